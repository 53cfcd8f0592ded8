// fivebeans over TLS: the client opens its socket with net.createConnection, so that is
// swapped for tls.connect (with the test's CA and client certificate) before it connects.
// Used by tests/integration/test_tls.py; argv: port ca.crt client.crt client.key.
'use strict';
const fs = require('fs');
const net = require('net');
const tls = require('tls');
const fivebeans = require('fivebeans');

const [port, ca, cert, key] = process.argv.slice(2);
net.createConnection = (p, host) => tls.connect({
    port: p, host, servername: 'localhost',
    ca: fs.readFileSync(ca), cert: fs.readFileSync(cert), key: fs.readFileSync(key),
});
const timer = setTimeout(() => { console.error('timed out'); process.exit(1); }, 10000);
const client = new fivebeans.client('127.0.0.1', Number(port));
client.on('error', (err) => { console.error('error', err); process.exit(1); });
client.on('connect', () => {
    client.put(0, 0, 60, 'over tls', (err, id) => {
        if (err) throw err;
        client.reserve((err2, rid, body) => {
            if (err2) throw err2;
            client.destroy(rid, (err3) => {
                if (err3) throw err3;
                console.log('ok', id === rid, body.toString());
                clearTimeout(timer);
                client.end();
            });
        });
    });
});
client.connect();
