'use strict';
// beanstalkd (npm "beanstalkd", node-beanstalkd-client; pinned in
// package.json) driving a beanstalkd-protocol server through its public API.
// Usage: node beanstalkd_client_suite.js PORT
//
// Methods are the protocol commands camelCased with positional arguments
// (put(pri, delay, ttr, body)); ids are numbers, jobs come back as
// [id, Buffer], YAML replies parsed by js-yaml, and any other reply rejects
// with Error(<reply word>). The client registers no "kick" method although
// its protocol table has the command, so the suite adds it through the
// documented extension point, Beanstalkd.addCommand (see docs/clients.md).

const mod = require('beanstalkd');
const Beanstalkd = mod.default || mod;
const h = require('./harness');
const { check, cleanup, tube, eq, ok, rejects } = h;

const kickWasMissing = typeof Beanstalkd.prototype.kick !== 'function';
if (kickWasMissing) Beanstalkd.addCommand('kick', 'KICKED');

async function conn() {
    const c = new Beanstalkd(h.HOST, h.PORT);
    await c.connect();
    cleanup(() => c.connection && c.connection.destroy());
    return c;
}

async function onTube(name) {
    const c = await conn();
    eq(await c.use(name), name, 'use');
    eq(await c.watch(name), 2, 'watch');
    eq(await c.ignore('default'), 1, 'ignore');
    return c;
}

const is = reply => e => e.message === reply;

check('put and reserve round-trip a binary body; statsJob', async () => {
    const c = await onTube(tube('put'));
    const body = Buffer.from('hello\r\nworld \x00\xff binary', 'latin1');
    const id = await c.put(7, 0, 30, body);
    ok(Number.isInteger(id) && id > 0, `id ${id}`);
    const [rid, payload] = await c.reserveWithTimeout(2);
    eq(rid, id, 'reserved id');
    eq(Buffer.compare(payload, body), 0, 'body bytes');
    const s = await c.statsJob(id);
    eq([s.id, s.pri, s.ttr, s.state], [id, 7, 30, 'reserved'], 'stats-job');
    eq(await c.delete(id), undefined, 'delete resolves');
});

check('blocking reserve; string body', async () => {
    const c = await onTube(tube('reserve'));
    const id = await c.put(0, 0, 60, 'text \u00e9');
    const [rid, payload] = await c.reserve();
    eq([rid, payload.toString()], [id, 'text \u00e9'], 'reserved');
});

check('reserve order follows priority, then id', async () => {
    const c = await onTube(tube('prio'));
    const low = await c.put(100, 0, 60, 'low');
    const high = await c.put(1, 0, 60, 'high');
    const high2 = await c.put(1, 0, 60, 'high2');
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await c.reserveWithTimeout(1))[0]);
    eq(got, [high, high2, low], 'reserve order');
});

check('put with delay: delayed, peekDelayed, reservable after the delay', async () => {
    const c = await onTube(tube('delay'));
    const id = await c.put(5, 1, 60, 'later');
    const s = await c.statsJob(id);
    eq([s.state, s.delay], ['delayed', 1], 'stats-job');
    await rejects(c.reserveWithTimeout(0), is('TIMED_OUT'), 'nothing ready yet');
    const [pid, body] = await c.peekDelayed();
    eq([pid, body.toString()], [id, 'later'], 'peek-delayed');
    eq((await c.reserveWithTimeout(3))[0], id, 'reserved after the delay');
});

check('reserveWithTimeout: TIMED_OUT after about the timeout', async () => {
    const c = await onTube(tube('empty'));
    const t0 = Date.now();
    await rejects(c.reserveWithTimeout(1), is('TIMED_OUT'), 'timeout 1');
    const dt = Date.now() - t0;
    ok(dt >= 900 && dt < 3000, `waited about 1 s (${dt} ms)`);
});

check('DEADLINE_SOON from reserve and reserveWithTimeout', async () => {
    const c = await onTube(tube('deadline'));
    const id = await c.put(0, 0, 1, 'ttr1');
    eq((await c.reserveWithTimeout(1))[0], id, 'reserved');
    await rejects(c.reserveWithTimeout(2), is('DEADLINE_SOON'), 'reserve-with-timeout');
    await rejects(c.reserve(), is('DEADLINE_SOON'), 'reserve');
});

check('touch refreshes time-left; NOT_FOUND when not reserved by us', async () => {
    const c = await onTube(tube('touch'));
    const id = await c.put(0, 0, 10, 't');
    await c.reserveWithTimeout(1);
    await c.touch(id);
    ok((await c.statsJob(id))['time-left'] >= 8, 'time-left close to ttr');
    const other = await conn();
    await rejects(other.touch(id), is('NOT_FOUND'), 'touch from another connection');
});

check('release with priority and delay; NOT_FOUND when not reserved', async () => {
    const c = await onTube(tube('release'));
    const id = await c.put(10, 0, 60, 'r');
    await c.reserveWithTimeout(1);
    await c.release(id, 3, 1);
    const s = await c.statsJob(id);
    eq([s.state, s.pri, s.releases], ['delayed', 3, 1], 'state, pri, releases');
    eq((await c.reserveWithTimeout(3))[0], id, 'reserved again after the delay');
    await c.release(id, 3, 0);
    eq((await c.statsJob(id)).state, 'ready', 'state after release without delay');
    await rejects(c.release(id, 3, 0), is('NOT_FOUND'), 'release of a ready job');
});

check('bury, peekBuried, kick (added) and kickJob', async () => {
    const name = tube('bury');
    const c = await onTube(name);
    const a = await c.put(0, 0, 60, 'a');
    const b = await c.put(0, 0, 60, 'b');
    await c.reserveWithTimeout(1);
    await c.reserveWithTimeout(1);
    await c.bury(a, 42);
    await c.bury(b, 0);
    const s = await c.statsJob(a);
    eq([s.state, s.pri, s.buries], ['buried', 42, 1], 'after bury');
    eq((await c.peekBuried())[0], a, 'peek-buried');
    eq((await c.statsTube(name))['current-jobs-buried'], 2, 'buried count');
    await c.kickJob(b);
    eq((await c.statsJob(b)).state, 'ready', 'kick-job');
    eq(await c.kick(10), 1, 'kick count');
    eq(await c.kick(10), 0, 'kick with nothing to kick');
    await rejects(c.peekBuried(), is('NOT_FOUND'), 'peek-buried when none');
    await rejects(c.kickJob(999999999), is('NOT_FOUND'), 'kick-job unknown');
    await rejects(c.bury(a, 0), is('NOT_FOUND'), 'bury of a ready job');
});

check('client limitation: no kick method of its own', async () => {
    // Documented so a new client version that adds it is noticed.
    eq(kickWasMissing, true, 'Beanstalkd.prototype.kick missing before addCommand');
});

check('kick moves delayed jobs to ready', async () => {
    const c = await onTube(tube('kickdelayed'));
    const id = await c.put(0, 100, 60, 'd');
    eq(await c.kick(5), 1, 'kick count');
    eq((await c.statsJob(id)).state, 'ready', 'state');
});

check('peek, peekReady and their NOT_FOUND forms', async () => {
    const c = await onTube(tube('peek'));
    await rejects(c.peekReady(), is('NOT_FOUND'), 'peek-ready on empty tube');
    await rejects(c.peekDelayed(), is('NOT_FOUND'), 'peek-delayed on empty tube');
    const one = await c.put(5, 0, 60, 'one');
    const two = await c.put(1, 0, 60, 'two');
    const [rid, rbody] = await c.peekReady();
    eq([rid, rbody.toString()], [two, 'two'], 'peek-ready');
    const [pid, pbody] = await c.peek(one);
    eq([pid, pbody.toString()], [one, 'one'], 'peek id');
    await rejects(c.peek(999999999), is('NOT_FOUND'), 'peek unknown');
});

check('delete and destroy; NOT_FOUND afterwards', async () => {
    const c = await onTube(tube('delete'));
    const id = await c.put(0, 0, 60, 'gone');
    const id2 = await c.put(0, 0, 60, 'gone too');
    await c.delete(id);
    await c.destroy(id2);
    await rejects(c.peek(id), is('NOT_FOUND'), 'peek after delete');
    await rejects(c.peek(id2), is('NOT_FOUND'), 'peek after destroy');
    await rejects(c.delete(id), is('NOT_FOUND'), 'second delete');
    await rejects(c.statsJob(id), is('NOT_FOUND'), 'stats-job after delete');
});

check('JOB_TOO_BIG; connection still usable', async () => {
    const c = await onTube(tube('big'));
    const max = (await c.stats())['max-job-size'];
    ok(max > 0, 'max-job-size');
    await rejects(c.put(0, 0, 60, Buffer.alloc(max + 1, 120)), is('JOB_TOO_BIG'), 'put max+1');
    const id = await c.put(0, 0, 60, Buffer.alloc(max, 121));
    eq((await c.peek(id))[1].length, max, 'max-size job stored');
});

check('use and listTubeUsed', async () => {
    const name = tube('use');
    const c = await conn();
    eq(await c.listTubeUsed(), 'default', 'initial used tube');
    await c.use(name);
    eq(await c.listTubeUsed(), name, 'after use');
    const id = await c.put(0, 0, 60, 'x');
    eq((await c.statsJob(id)).tube, name, 'job in the used tube');
});

check('watch, ignore, listTubesWatched, NOT_IGNORED', async () => {
    const t1 = tube('w1');
    const t2 = tube('w2');
    const c = await conn();
    eq(await c.listTubesWatched(), ['default'], 'initial');
    eq(await c.watch(t1), 2, 'watch t1');
    eq(await c.watch(t2), 3, 'watch t2');
    eq(await c.ignore('default'), 2, 'ignore default');
    eq((await c.listTubesWatched()).sort(), [t1, t2].sort(), 'after ignore');
    eq(await c.ignore(t1), 1, 'ignore t1');
    await rejects(c.ignore(t2), is('NOT_IGNORED'), 'ignore the last tube');
});

check('listTubes', async () => {
    const name = tube('list');
    const c = await conn();
    await c.use(name);
    const tubes = await c.listTubes();
    ok(tubes.includes('default') && tubes.includes(name), `listed: ${tubes}`);
    eq(new Set(tubes).size, tubes.length, 'no duplicates');
});

check('pauseTube; NOT_FOUND for an unknown tube', async () => {
    const name = tube('pause');
    const c = await onTube(name);
    const id = await c.put(0, 0, 60, 'p');
    await c.pauseTube(name, 60);
    const s = await c.statsTube(name);
    eq(s.pause, 60, 'pause');
    ok(s['pause-time-left'] > 55, `pause-time-left ${s['pause-time-left']}`);
    await rejects(c.reserveWithTimeout(0), is('TIMED_OUT'), 'paused tube');
    await c.pauseTube(name, 0);
    eq((await c.reserveWithTimeout(1))[0], id, 'reserve after unpause');
    await rejects(c.pauseTube(tube('missing'), 1), is('NOT_FOUND'), 'unknown tube');
});

check('stats: fields and counters move', async () => {
    const c = await onTube(tube('stats'));
    const before = await c.stats();
    for (const k of ['current-jobs-ready', 'cmd-put', 'total-jobs', 'pid', 'version', 'uptime',
        'max-job-size', 'current-tubes', 'current-connections', 'hostname']) {
        ok(k in before, `stats has ${k}`);
    }
    await c.put(0, 0, 60, 's');
    const after = await c.stats();
    eq(after['cmd-put'], before['cmd-put'] + 1, 'cmd-put');
    eq(after['total-jobs'], before['total-jobs'] + 1, 'total-jobs');
    eq(after['current-jobs-ready'], before['current-jobs-ready'] + 1, 'current-jobs-ready');
});

check('statsJob: every key and value', async () => {
    const name = tube('statsjob');
    const c = await onTube(name);
    const id = await c.put(99, 0, 33, 'sj');
    const s = await c.statsJob(id);
    eq(Object.keys(s), ['id', 'tube', 'state', 'pri', 'age', 'delay', 'ttr', 'time-left',
        'file', 'reserves', 'timeouts', 'releases', 'buries', 'kicks'], 'keys in order');
    eq([s.id, s.tube, s.state, s.pri, s.ttr, s.delay, s.reserves],
        [id, name, 'ready', 99, 33, 0, 0], 'values');
});

check('statsTube: every key and value; NOT_FOUND for an unknown tube', async () => {
    const name = tube('statstube');
    const c = await onTube(name);
    await c.put(1023, 0, 60, 'a');
    await c.put(0, 100, 60, 'b');
    await c.put(1024, 0, 60, 'c');
    const s = await c.statsTube(name);
    eq(Object.keys(s), ['name', 'current-jobs-urgent', 'current-jobs-ready',
        'current-jobs-reserved', 'current-jobs-delayed', 'current-jobs-buried', 'total-jobs',
        'current-using', 'current-watching', 'current-waiting', 'cmd-delete', 'cmd-pause-tube',
        'pause', 'pause-time-left'], 'keys in order');
    eq([s.name, s['current-jobs-urgent'], s['current-jobs-ready'], s['current-jobs-delayed'],
        s['total-jobs'], s['current-using'], s['current-watching']],
    [name, 1, 2, 1, 3, 1, 1], 'values');
    await rejects(c.statsTube(tube('missing')), is('NOT_FOUND'), 'unknown tube');
});

check('pipelined calls on one connection resolve in order', async () => {
    const c = await onTube(tube('pipeline'));
    const ids = await Promise.all([1, 2, 3, 4, 5].map(n => c.put(n, 0, 60, `job ${n}`)));
    const peeks = await Promise.all(ids.map(id => c.peek(id)));
    eq(peeks.map(([id, b]) => [id, b.toString()]), ids.map((id, i) => [id, `job ${i + 1}`]),
        'each peek got its own job');
});

check('quit closes the connection', async () => {
    const c = await conn();
    const closed = new Promise(resolve => c.connection.once('close', resolve));
    await c.quit();
    await closed;
    eq(c.closed, true, 'closed flag');
    await rejects(c.stats(), e => /closed/i.test(e.message), 'command after quit');
});

h.run();
