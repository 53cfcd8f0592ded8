'use strict';
// fivebeans (npm, pinned in package.json) driving a beanstalkd-protocol
// server through its public API: the callback client and the worker.
// Usage: node fivebeans_suite.js PORT
//
// fivebeans calls back with (err, ...reply words): err is the server's reply
// word ("NOT_FOUND", "TIMED_OUT", ...), ids and counts are strings, job bodies
// Buffers, and YAML replies are parsed with js-yaml (numbers become numbers).
// call() turns one callback command into a promise rejecting with Error(err).

const fivebeans = require('fivebeans');
const h = require('./harness');
const { check, cleanup, tube, eq, ok, rejects } = h;

function conn() {
    return new Promise((resolve, reject) => {
        const c = new fivebeans.client(h.HOST, h.PORT);
        c.on('connect', () => resolve(c));
        c.on('error', reject);
        c.connect();
        cleanup(() => c.stream && c.stream.destroy());
    });
}

function call(c, method, ...args) {
    return new Promise((resolve, reject) => {
        c[method](...args, (err, ...reply) => {
            if (err) reject(new Error(String(err)));
            else resolve(reply);
        });
    });
}

async function onTube(name) {
    const c = await conn();
    eq(await call(c, 'use', name), [name], 'use');
    eq(await call(c, 'watch', name), ['2'], 'watch');
    eq(await call(c, 'ignore', 'default'), ['1'], 'ignore');
    return c;
}

const is = reply => e => e.message === reply;

async function put(c, pri, delay, ttr, body) {
    const [id] = await call(c, 'put', pri, delay, ttr, body);
    ok(/^[1-9][0-9]*$/.test(id), `put returns an id: ${id}`);
    return id;
}

async function jobStats(c, id) {
    return (await call(c, 'stats_job', id))[0];
}

check('put and reserve round-trip a binary body; stats_job', async () => {
    const c = await onTube(tube('put'));
    const body = Buffer.from('hello\r\nworld \x00\xff binary', 'latin1');
    const id = await put(c, 7, 0, 30, body);
    const [rid, payload] = await call(c, 'reserve_with_timeout', 2);
    eq(rid, id, 'reserved id');
    eq(Buffer.compare(payload, body), 0, 'reserved body bytes');
    const s = await jobStats(c, id);
    eq([s.id, s.pri, s.ttr, s.state], [+id, 7, 30, 'reserved'], 'stats-job values');
    eq(await call(c, 'destroy', id), [], 'delete');
});

check('blocking reserve; empty body', async () => {
    const c = await onTube(tube('reserve'));
    const id = await put(c, 0, 0, 60, '');
    const [rid, payload] = await call(c, 'reserve');
    eq([rid, payload.length], [id, 0], 'reserve of an empty job');
});

check('reserve order follows priority, then id', async () => {
    const c = await onTube(tube('prio'));
    const low = await put(c, 100, 0, 60, 'low');
    const high = await put(c, 1, 0, 60, 'high');
    const high2 = await put(c, 1, 0, 60, 'high2');
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await call(c, 'reserve_with_timeout', 1))[0]);
    eq(got, [high, high2, low], 'reserve order');
});

check('put with delay: delayed, peek_delayed, reservable after the delay', async () => {
    const c = await onTube(tube('delay'));
    const id = await put(c, 5, 1, 60, 'later');
    const s = await jobStats(c, id);
    eq([s.state, s.delay], ['delayed', 1], 'state and delay');
    await rejects(call(c, 'reserve_with_timeout', 0), is('TIMED_OUT'), 'nothing ready yet');
    const [pid, body] = await call(c, 'peek_delayed');
    eq([pid, body.toString()], [id, 'later'], 'peek-delayed');
    eq((await call(c, 'reserve_with_timeout', 3))[0], id, 'reserved after the delay');
});

check('reserve_with_timeout: TIMED_OUT after about the timeout', async () => {
    const c = await onTube(tube('empty'));
    const t0 = Date.now();
    await rejects(call(c, 'reserve_with_timeout', 1), is('TIMED_OUT'), 'timeout 1');
    const dt = Date.now() - t0;
    ok(dt >= 900 && dt < 3000, `waited about 1 s (${dt} ms)`);
});

check('DEADLINE_SOON from reserve and reserve_with_timeout', async () => {
    const c = await onTube(tube('deadline'));
    const id = await put(c, 0, 0, 1, 'ttr1');
    eq((await call(c, 'reserve_with_timeout', 1))[0], id, 'reserved');
    await rejects(call(c, 'reserve_with_timeout', 2), is('DEADLINE_SOON'), 'reserve-with-timeout');
    await rejects(call(c, 'reserve'), is('DEADLINE_SOON'), 'reserve');
});

check('touch refreshes time-left; NOT_FOUND when not reserved by us', async () => {
    const c = await onTube(tube('touch'));
    const id = await put(c, 0, 0, 10, 't');
    await call(c, 'reserve_with_timeout', 1);
    eq(await call(c, 'touch', id), [], 'touch');
    ok((await jobStats(c, id))['time-left'] >= 8, 'time-left close to ttr');
    const other = await conn();
    await rejects(call(other, 'touch', id), is('NOT_FOUND'), 'touch from another connection');
});

check('release with priority and delay; NOT_FOUND when not reserved', async () => {
    const c = await onTube(tube('release'));
    const id = await put(c, 10, 0, 60, 'r');
    await call(c, 'reserve_with_timeout', 1);
    eq(await call(c, 'release', id, 3, 1), [], 'release');
    const s = await jobStats(c, id);
    eq([s.state, s.pri, s.releases], ['delayed', 3, 1], 'state, pri, releases');
    eq((await call(c, 'reserve_with_timeout', 3))[0], id, 'reserved again after the delay');
    await call(c, 'release', id, 3, 0);
    eq((await jobStats(c, id)).state, 'ready', 'state after release without delay');
    await rejects(call(c, 'release', id, 3, 0), is('NOT_FOUND'), 'release of a ready job');
});

check('bury, peek_buried, kick and kick_job', async () => {
    const name = tube('bury');
    const c = await onTube(name);
    const a = await put(c, 0, 0, 60, 'a');
    const b = await put(c, 0, 0, 60, 'b');
    await call(c, 'reserve_with_timeout', 1);
    await call(c, 'reserve_with_timeout', 1);
    eq(await call(c, 'bury', a, 42), [], 'bury a');
    await call(c, 'bury', b, 0);
    const s = await jobStats(c, a);
    eq([s.state, s.pri, s.buries], ['buried', 42, 1], 'after bury');
    eq((await call(c, 'peek_buried'))[0], a, 'peek-buried');
    eq((await call(c, 'stats_tube', name))[0]['current-jobs-buried'], 2, 'buried count');
    eq(await call(c, 'kick_job', b), [], 'kick-job');
    eq((await jobStats(c, b)).state, 'ready', 'kicked job ready');
    eq(await call(c, 'kick', 10), ['1'], 'kick count');
    eq(await call(c, 'kick', 10), ['0'], 'kick with nothing to kick');
    await rejects(call(c, 'peek_buried'), is('NOT_FOUND'), 'peek-buried when none');
    await rejects(call(c, 'kick_job', '999999999'), is('NOT_FOUND'), 'kick-job unknown');
    await rejects(call(c, 'bury', a, 0), is('NOT_FOUND'), 'bury of a ready job');
});

check('kick moves delayed jobs to ready', async () => {
    const c = await onTube(tube('kickdelayed'));
    const id = await put(c, 0, 100, 60, 'd');
    eq(await call(c, 'kick', 5), ['1'], 'kick count');
    eq((await jobStats(c, id)).state, 'ready', 'state');
});

check('peek, peek_ready and their NOT_FOUND forms', async () => {
    const c = await onTube(tube('peek'));
    await rejects(call(c, 'peek_ready'), is('NOT_FOUND'), 'peek-ready on empty tube');
    await rejects(call(c, 'peek_delayed'), is('NOT_FOUND'), 'peek-delayed on empty tube');
    const one = await put(c, 5, 0, 60, 'one');
    const two = await put(c, 1, 0, 60, 'two');
    const [rid, rbody] = await call(c, 'peek_ready');
    eq([rid, rbody.toString()], [two, 'two'], 'peek-ready');
    const [pid, pbody] = await call(c, 'peek', one);
    eq([pid, pbody.toString()], [one, 'one'], 'peek id');
    await rejects(call(c, 'peek', '999999999'), is('NOT_FOUND'), 'peek unknown');
});

check('destroy (delete); NOT_FOUND afterwards', async () => {
    const c = await onTube(tube('delete'));
    const id = await put(c, 0, 0, 60, 'gone');
    await call(c, 'destroy', id);
    await rejects(call(c, 'peek', id), is('NOT_FOUND'), 'peek after delete');
    await rejects(call(c, 'destroy', id), is('NOT_FOUND'), 'second delete');
    await rejects(call(c, 'stats_job', id), is('NOT_FOUND'), 'stats-job after delete');
});

check('JOB_TOO_BIG; connection still usable', async () => {
    const c = await onTube(tube('big'));
    const max = (await call(c, 'stats'))[0]['max-job-size'];
    ok(max > 0, 'max-job-size');
    await rejects(call(c, 'put', 0, 0, 60, Buffer.alloc(max + 1, 120)), is('JOB_TOO_BIG'),
        'put max+1 bytes');
    const id = await put(c, 0, 0, 60, Buffer.alloc(max, 121));
    eq((await call(c, 'peek', id))[1].length, max, 'max-size job stored');
});

check('use and list_tube_used', async () => {
    const name = tube('use');
    const c = await conn();
    eq(await call(c, 'list_tube_used'), ['default'], 'initial used tube');
    await call(c, 'use', name);
    eq(await call(c, 'list_tube_used'), [name], 'after use');
    const id = await put(c, 0, 0, 60, 'x');
    eq((await jobStats(c, id)).tube, name, 'job in the used tube');
});

check('watch, ignore, list_tubes_watched, NOT_IGNORED', async () => {
    const t1 = tube('w1');
    const t2 = tube('w2');
    const c = await conn();
    eq(await call(c, 'list_tubes_watched'), [['default']], 'initial');
    eq(await call(c, 'watch', t1), ['2'], 'watch t1');
    eq(await call(c, 'watch', t2), ['3'], 'watch t2');
    eq(await call(c, 'ignore', 'default'), ['2'], 'ignore default');
    eq((await call(c, 'list_tubes_watched'))[0].sort(), [t1, t2].sort(), 'after ignore');
    await call(c, 'ignore', t1);
    await rejects(call(c, 'ignore', t2), is('NOT_IGNORED'), 'ignore the last tube');
});

check('list_tubes', async () => {
    const name = tube('list');
    const c = await conn();
    await call(c, 'use', name);
    const [tubes] = await call(c, 'list_tubes');
    ok(tubes.includes('default') && tubes.includes(name), `listed: ${tubes}`);
    eq(new Set(tubes).size, tubes.length, 'no duplicates');
});

check('pause_tube; NOT_FOUND for an unknown tube', async () => {
    const name = tube('pause');
    const c = await onTube(name);
    const id = await put(c, 0, 0, 60, 'p');
    eq(await call(c, 'pause_tube', name, 60), [], 'pause-tube');
    const s = (await call(c, 'stats_tube', name))[0];
    eq(s.pause, 60, 'pause');
    ok(s['pause-time-left'] > 55, `pause-time-left ${s['pause-time-left']}`);
    await rejects(call(c, 'reserve_with_timeout', 0), is('TIMED_OUT'), 'paused tube');
    await call(c, 'pause_tube', name, 0);
    eq((await call(c, 'reserve_with_timeout', 1))[0], id, 'reserve after unpause');
    await rejects(call(c, 'pause_tube', tube('missing'), 1), is('NOT_FOUND'), 'unknown tube');
});

check('stats: fields and counters move', async () => {
    const c = await onTube(tube('stats'));
    const [before] = await call(c, 'stats');
    for (const k of ['current-jobs-ready', 'cmd-put', 'total-jobs', 'pid', 'version', 'uptime',
        'max-job-size', 'current-tubes', 'current-connections', 'hostname']) {
        ok(k in before, `stats has ${k}`);
    }
    await put(c, 0, 0, 60, 's');
    const [after] = await call(c, 'stats');
    eq(after['cmd-put'], before['cmd-put'] + 1, 'cmd-put');
    eq(after['total-jobs'], before['total-jobs'] + 1, 'total-jobs');
    eq(after['current-jobs-ready'], before['current-jobs-ready'] + 1, 'current-jobs-ready');
});

check('stats_job: every key and value', async () => {
    const name = tube('statsjob');
    const c = await onTube(name);
    const id = await put(c, 99, 0, 33, 'sj');
    const s = await jobStats(c, id);
    eq(Object.keys(s), ['id', 'tube', 'state', 'pri', 'age', 'delay', 'ttr', 'time-left',
        'file', 'reserves', 'timeouts', 'releases', 'buries', 'kicks'], 'keys in order');
    eq([s.id, s.tube, s.state, s.pri, s.ttr, s.delay, s.reserves], [+id, name, 'ready', 99, 33,
        0, 0], 'values');
});

check('stats_tube: every key and value; NOT_FOUND for an unknown tube', async () => {
    const name = tube('statstube');
    const c = await onTube(name);
    await put(c, 1023, 0, 60, 'a');
    await put(c, 0, 100, 60, 'b');
    await put(c, 1024, 0, 60, 'c');
    const [s] = await call(c, 'stats_tube', name);
    eq(Object.keys(s), ['name', 'current-jobs-urgent', 'current-jobs-ready',
        'current-jobs-reserved', 'current-jobs-delayed', 'current-jobs-buried', 'total-jobs',
        'current-using', 'current-watching', 'current-waiting', 'cmd-delete', 'cmd-pause-tube',
        'pause', 'pause-time-left'], 'keys in order');
    eq([s.name, s['current-jobs-urgent'], s['current-jobs-ready'], s['current-jobs-delayed'],
        s['total-jobs'], s['current-using'], s['current-watching']],
    [name, 1, 2, 1, 3, 1, 1], 'values');
    await rejects(call(c, 'stats_tube', tube('missing')), is('NOT_FOUND'), 'unknown tube');
});

check('worker: handles, deletes, buries unknown types', async () => {
    const name = tube('worker');
    const producer = await conn();
    await call(producer, 'use', name);
    const good = await put(producer, 0, 0, 60, JSON.stringify({ type: 'add', payload: { n: 41 } }));
    const bad = await put(producer, 0, 0, 60, JSON.stringify({ type: 'nobody', payload: {} }));
    const seen = [];
    const worker = new fivebeans.worker({
        id: 'suite', host: h.HOST, port: h.PORT, timeout: 1, ignoreDefault: true,
        handlers: { add: { work: (p, done) => { seen.push(p.n + 1); done('success'); } } },
    });
    const events = { deleted: [], buried: [] };
    const finished = new Promise(resolve => {
        const maybe = () => {
            if (events.deleted.length + events.buried.length === 2) resolve();
        };
        worker.on('job.deleted', id => { events.deleted.push(id); maybe(); });
        worker.on('job.buried', id => { events.buried.push(id); maybe(); });
    });
    worker.on('error', () => {});
    worker.start([name]);
    cleanup(() => { worker.stopped = true; if (worker.client) worker.client.stream.destroy(); });
    await finished;
    eq(seen, [42], 'handler ran with the payload');
    eq(events, { deleted: [good], buried: [bad] }, 'deleted and buried ids');
    await rejects(call(producer, 'peek', good), is('NOT_FOUND'), 'handled job deleted');
    const s = await jobStats(producer, bad);
    eq([s.state, s.pri], ['buried', 1000], 'unknown type buried at LOWEST_PRIORITY');
});

h.run();
