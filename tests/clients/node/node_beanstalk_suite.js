'use strict';
// node-beanstalk (npm, pinned in package.json) driving a beanstalkd-protocol
// server through its public API: Client and Pool.
// Usage: node node_beanstalk_suite.js PORT
//
// node-beanstalk maps most "not there" replies to null/false (NOT_FOUND,
// TIMED_OUT, NOT_IGNORED) and throws BeanstalkError with .code set to the
// reply word for DEADLINE_SOON, JOB_TOO_BIG, ... Its default serializer is
// JSON; raw() makes a client without one, so bodies are bytes.

const { Client, Pool, BeanstalkError, ClientError, BeanstalkJobState } = require('node-beanstalk');
const h = require('./harness');
const { check, cleanup, tube, eq, ok, rejects } = h;

async function conn(options = {}) {
    const c = new Client({ host: h.HOST, port: h.PORT, ...options });
    await c.connect();
    cleanup(() => c.disconnect(true));
    return c;
}

function raw() {
    return conn({ serializer: undefined });
}

async function onTube(name, options) {
    const c = await conn(options);
    eq(await c.use(name), name, 'use');
    eq(await c.watch(name), 2, 'watch');
    eq(await c.ignore('default'), true, 'ignore');
    return c;
}

// Not `instanceof BeanstalkError`: see the known-bug check below.
const code = c => e => e.name === 'BeanstalkError' && e.code === c;

check('put and reserve round-trip a JSON payload; put reports id and state', async () => {
    const c = await onTube(tube('put'));
    const payload = { text: 'hello\r\nworld', list: [1, 2, 3] };
    const put = await c.put(payload, 30, 7);
    ok(Number.isInteger(put.id) && put.id > 0, `id ${put.id}`);
    eq(put.state, BeanstalkJobState.ready, 'state');
    const job = await c.reserveWithTimeout(2);
    eq(job, { id: put.id, payload }, 'reserved job');
    const s = await c.statsJob(put.id);
    eq([s.pri, s.ttr, s.state], [7, 30, 'reserved'], 'stats-job');
    eq(await c.delete(put.id), true, 'delete');
});

check('raw client: binary body bytes and a blocking reserve', async () => {
    const c = await raw();
    const name = tube('raw');
    await c.use(name);
    await c.watch(name);
    await c.ignore('default');
    const body = 'hello\r\nworld \u00e9';
    const put = await c.put(body);
    const job = await c.reserve();
    eq(job.id, put.id, 'id');
    eq(Buffer.compare(job.payload, Buffer.from(body)), 0, 'body bytes');
});

check('reserve order follows priority, then id', async () => {
    const c = await onTube(tube('prio'));
    const low = await c.put('low', 60, 100);
    const high = await c.put('high', 60, 1);
    const high2 = await c.put('high2', 60, 1);
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await c.reserveWithTimeout(1)).id);
    eq(got, [high.id, high2.id, low.id], 'reserve order');
});

check('put with delay: delayed, peekDelayed, reservable after the delay', async () => {
    const c = await onTube(tube('delay'));
    const put = await c.put('later', 60, 5, 1);
    eq(put.state, BeanstalkJobState.delayed, 'put state');
    const s = await c.statsJob(put.id);
    eq([s.state, s.delay], ['delayed', 1], 'stats-job');
    eq(await c.reserveWithTimeout(0), null, 'nothing ready (TIMED_OUT)');
    eq(await c.peekDelayed(), { id: put.id, payload: 'later' }, 'peek-delayed');
    eq((await c.reserveWithTimeout(3)).id, put.id, 'reserved after the delay');
});

check('reserveWithTimeout: null (TIMED_OUT) after about the timeout', async () => {
    const c = await onTube(tube('empty'));
    const t0 = Date.now();
    eq(await c.reserveWithTimeout(1), null, 'timeout 1');
    const dt = Date.now() - t0;
    ok(dt >= 900 && dt < 3000, `waited about 1 s (${dt} ms)`);
});

check('DEADLINE_SOON: BeanstalkError from reserve and reserveWithTimeout', async () => {
    const c = await onTube(tube('deadline'));
    const put = await c.put('ttr1', 1);
    eq((await c.reserveWithTimeout(1)).id, put.id, 'reserved');
    await rejects(c.reserveWithTimeout(2), code('DEADLINE_SOON'), 'reserve-with-timeout');
    await rejects(c.reserve(), code('DEADLINE_SOON'), 'reserve');
});

check('reserveJob by id; null for an unknown id', async () => {
    const c = await onTube(tube('reservejob'));
    await c.put('first');
    const second = await c.put('second');
    eq(await c.reserveJob(second.id), { id: second.id, payload: 'second' }, 'reserve-job');
    eq((await c.statsJob(second.id)).state, 'reserved', 'state');
    eq(await c.reserveJob(999999999), null, 'unknown id (NOT_FOUND)');
});

check('touch refreshes time-left; false when not reserved by us', async () => {
    const c = await onTube(tube('touch'));
    const put = await c.put('t', 10);
    await c.reserveWithTimeout(1);
    eq(await c.touch(put.id), true, 'touch');
    ok((await c.statsJob(put.id))['time-left'] >= 8, 'time-left close to ttr');
    const other = await conn();
    eq(await other.touch(put.id), false, 'touch from another connection (NOT_FOUND)');
});

check('release with priority and delay; null when not reserved', async () => {
    const c = await onTube(tube('release'));
    const put = await c.put('r', 60, 10);
    await c.reserveWithTimeout(1);
    eq(await c.release(put.id, 3, 1), BeanstalkJobState.delayed, 'release with delay');
    const s = await c.statsJob(put.id);
    eq([s.state, s.pri, s.releases], ['delayed', 3, 1], 'state, pri, releases');
    eq((await c.reserveWithTimeout(3)).id, put.id, 'reserved again after the delay');
    eq(await c.release(put.id), BeanstalkJobState.ready, 'release without delay');
    eq((await c.statsJob(put.id)).pri, 1024, 'default priority');
    eq(await c.release(put.id), null, 'release of a ready job (NOT_FOUND)');
});

check('bury, peekBuried, kick and kickJob', async () => {
    const name = tube('bury');
    const c = await onTube(name);
    const a = await c.put('a');
    const b = await c.put('b');
    await c.reserveWithTimeout(1);
    await c.reserveWithTimeout(1);
    eq(await c.bury(a.id, 42), true, 'bury a');
    eq(await c.bury(b.id), true, 'bury b');
    const s = await c.statsJob(a.id);
    eq([s.state, s.pri, s.buries], ['buried', 42, 1], 'after bury');
    eq(await c.peekBuried(), { id: a.id, payload: 'a' }, 'peek-buried');
    eq((await c.statsTube(name))['current-jobs-buried'], 2, 'buried count');
    eq(await c.kickJob(b.id), true, 'kick-job');
    eq((await c.statsJob(b.id)).state, 'ready', 'kicked job ready');
    eq(await c.kick(10), 1, 'kick count');
    eq(await c.kick(10), 0, 'kick with nothing to kick');
    eq(await c.peekBuried(), null, 'peek-buried when none');
    eq(await c.kickJob(999999999), false, 'kick-job unknown (NOT_FOUND)');
    eq(await c.bury(a.id), false, 'bury of a ready job (NOT_FOUND)');
});

check('kick moves delayed jobs to ready', async () => {
    const c = await onTube(tube('kickdelayed'));
    const put = await c.put('d', 60, 0, 100);
    eq(await c.kick(5), 1, 'kick count');
    eq((await c.statsJob(put.id)).state, 'ready', 'state');
});

check('peek, peekReady and their null (NOT_FOUND) forms', async () => {
    const c = await onTube(tube('peek'));
    eq(await c.peekReady(), null, 'peek-ready on empty tube');
    eq(await c.peekDelayed(), null, 'peek-delayed on empty tube');
    const one = await c.put('one', 60, 5);
    const two = await c.put('two', 60, 1);
    eq(await c.peekReady(), { id: two.id, payload: 'two' }, 'peek-ready');
    eq(await c.peek(one.id), { id: one.id, payload: 'one' }, 'peek id');
    eq(await c.peek(999999999), null, 'peek unknown');
});

check('delete; false (NOT_FOUND) afterwards; statsJob null', async () => {
    const c = await onTube(tube('delete'));
    const put = await c.put('gone');
    eq(await c.delete(put.id), true, 'delete');
    eq(await c.peek(put.id), null, 'peek after delete');
    eq(await c.delete(put.id), false, 'second delete');
    eq(await c.statsJob(put.id), null, 'stats-job after delete');
});

check('JOB_TOO_BIG from the server; client-side limit above it', async () => {
    const c = await raw();
    await c.use(tube('big'));
    const max = (await c.stats())['max-job-size'];
    ok(max > 0 && max < 65536, `max-job-size ${max} below the client's own 65536 limit`);
    await rejects(c.put('x'.repeat(max + 1)), code('JOB_TOO_BIG'), 'put max+1 bytes');
    const put = await c.put('y'.repeat(max));
    eq((await c.peek(put.id)).payload.length, max, 'max-size job stored');
    await rejects(c.put('z'.repeat(65537)), e => e.name === 'ClientError',
        'client refuses more than maxPayloadSize itself');
});

check('use and listTubeUsed', async () => {
    const name = tube('use');
    const c = await conn();
    eq(await c.listTubeUsed(), 'default', 'initial used tube');
    await c.use(name);
    eq(await c.listTubeUsed(), name, 'after use');
    const put = await c.put('x');
    eq((await c.statsJob(put.id)).tube, name, 'job in the used tube');
});

check('watch, ignore, listTubesWatched, NOT_IGNORED as false', async () => {
    const t1 = tube('w1');
    const t2 = tube('w2');
    const c = await conn();
    eq(await c.listTubesWatched(), ['default'], 'initial');
    eq(await c.watch(t1), 2, 'watch t1');
    eq(await c.watch(t2), 3, 'watch t2');
    eq(await c.ignore('default'), true, 'ignore default');
    eq((await c.listTubesWatched()).sort(), [t1, t2].sort(), 'after ignore');
    eq(await c.ignore(t1), true, 'ignore t1');
    eq(await c.ignore(t2), false, 'ignore the last tube');
});

check('listTubes', async () => {
    const name = tube('list');
    const c = await conn();
    await c.use(name);
    const tubes = await c.listTubes();
    ok(tubes.includes('default') && tubes.includes(name), `listed: ${tubes}`);
    eq(new Set(tubes).size, tubes.length, 'no duplicates');
});

check('pauseTube; false for an unknown tube', async () => {
    const name = tube('pause');
    const c = await onTube(name);
    const put = await c.put('p');
    eq(await c.pauseTube(name, 60), true, 'pause-tube');
    const s = await c.statsTube(name);
    eq(s.pause, 60, 'pause');
    ok(s['pause-time-left'] > 55, `pause-time-left ${s['pause-time-left']}`);
    eq(await c.reserveWithTimeout(0), null, 'paused tube gives nothing');
    eq(await c.pauseTube(name, 0), true, 'unpause');
    eq((await c.reserveWithTimeout(1)).id, put.id, 'reserve after unpause');
    eq(await c.pauseTube(tube('missing'), 1), false, 'unknown tube (NOT_FOUND)');
});

check('stats: fields and counters move', async () => {
    const c = await onTube(tube('stats'));
    const before = await c.stats();
    for (const k of ['current-jobs-ready', 'cmd-put', 'total-jobs', 'pid', 'version', 'uptime',
        'max-job-size', 'current-tubes', 'current-connections', 'hostname']) {
        ok(k in before, `stats has ${k}`);
    }
    await c.put('s');
    const after = await c.stats();
    eq(after['cmd-put'], before['cmd-put'] + 1, 'cmd-put');
    eq(after['total-jobs'], before['total-jobs'] + 1, 'total-jobs');
    eq(after['current-jobs-ready'], before['current-jobs-ready'] + 1, 'current-jobs-ready');
});

check('statsJob: every key and value', async () => {
    const name = tube('statsjob');
    const c = await onTube(name);
    const put = await c.put('sj', 33, 99);
    const s = await c.statsJob(put.id);
    eq(Object.keys(s), ['id', 'tube', 'state', 'pri', 'age', 'delay', 'ttr', 'time-left',
        'file', 'reserves', 'timeouts', 'releases', 'buries', 'kicks'], 'keys in order');
    eq([s.id, s.tube, s.state, s.pri, s.ttr, s.delay, s.reserves],
        [put.id, name, 'ready', 99, 33, 0, 0], 'values');
});

check('statsTube: every key and value; null for an unknown tube', async () => {
    const name = tube('statstube');
    const c = await onTube(name);
    await c.put('a', 60, 1023);
    await c.put('b', 60, 0, 100);
    await c.put('c', 60, 1024);
    const s = await c.statsTube(name);
    eq(Object.keys(s), ['name', 'current-jobs-urgent', 'current-jobs-ready',
        'current-jobs-reserved', 'current-jobs-delayed', 'current-jobs-buried', 'total-jobs',
        'current-using', 'current-watching', 'current-waiting', 'cmd-delete', 'cmd-pause-tube',
        'pause', 'pause-time-left'], 'keys in order');
    eq([s.name, s['current-jobs-urgent'], s['current-jobs-ready'], s['current-jobs-delayed'],
        s['total-jobs'], s['current-using'], s['current-watching']],
    [name, 1, 2, 1, 3, 1, 1], 'values');
    eq(await c.statsTube(tube('missing')), null, 'unknown tube (NOT_FOUND)');
});

check('known client bug: its errors are not instanceof their own classes', async () => {
    // node-beanstalk 1.6.7 is compiled to ES5, where a class extending Error
    // gets the plain Error back from the super call, so `instanceof
    // BeanstalkError` is false for a BeanstalkError. Nothing to do with the
    // server; see docs/clients.md. Callers must test e.name / e.code.
    const c = await onTube(tube('instanceof'));
    await c.put('ttr1', 1);
    await c.reserveWithTimeout(1);
    const e = await rejects(c.reserveWithTimeout(1), code('DEADLINE_SOON'), 'DEADLINE_SOON');
    eq([e instanceof Error, e instanceof BeanstalkError], [true, false], 'instanceof');
    eq(new ClientError(1, 'x') instanceof ClientError, false, 'ClientError too');
});

check('Pool: clients are checked out, reused and released', async () => {
    const pool = new Pool({ capacity: 2, clientOptions: { host: h.HOST, port: h.PORT } });
    cleanup(() => pool.disconnect(true));
    const name = tube('pool');
    const a = await pool.connect();
    const b = await pool.connect();
    eq(pool.idleCount, 0, 'both clients checked out');
    await a.use(name);
    const put = await a.put({ from: 'pool' });
    await b.watch(name);
    eq(await b.reserveWithTimeout(1), { id: put.id, payload: { from: 'pool' } }, 'reserved via b');
    eq(await b.delete(put.id), true, 'delete via b');
    a.releaseClient();
    b.releaseClient();
    eq(pool.idleCount, 2, 'both idle after release');
    const again = await pool.connect();
    eq(await again.listTubeUsed(), name, 'a reused client keeps its connection state');
    again.releaseClient();
});

h.run();
