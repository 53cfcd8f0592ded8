'use strict';
// Tiny check runner shared by the node client suites.
//
// Model: a suite registers named async checks with check(); run() executes
// them one after another against 127.0.0.1:PORT (the last command-line
// argument). Every check runs under a deadline (CHECK_TIMEOUT_MS) raced
// against the check's promise, so a server that never answers fails the
// check instead of hanging it; after SUITE_BUDGET_MS the remaining checks are
// reported as failed without running. Whatever a check registers with
// cleanup() (closing its connections) runs after it, pass or fail. The last
// line printed is "N passed, M failed"; the exit status is 0 only when
// nothing failed, and the process exits explicitly so a stuck socket cannot
// keep it alive.
//
// The same suites must pass against Debian's beanstalkd: a check failing
// there is a wrong check, not a server bug.

const assert = require('assert');

const CHECK_TIMEOUT_MS = 8000;
const SUITE_BUDGET_MS = 40000;

const PORT = parseInt(process.argv[process.argv.length - 1], 10);
if (!(PORT > 0)) {
    console.error('usage: node <suite>.js PORT');
    process.exit(2);
}
const HOST = '127.0.0.1';

const checks = [];
let cleanups = [];
let tubeSeq = 0;
let passed = 0;
let failed = 0;

function check(name, fn) {
    checks.push({ name, fn });
}

/** Register fn to run after the current check (close a connection...). */
function cleanup(fn) {
    cleanups.push(fn);
}

/** A tube name no other check or earlier run uses. */
function tube(hint) {
    tubeSeq += 1;
    return `node-${hint}-${process.pid}-${tubeSeq}`;
}

function eq(got, want, what) {
    assert.deepStrictEqual(got, want, what);
}

function ok(cond, what) {
    assert.ok(cond, what);
}

/** Await promise p and require it to reject; test(err) must be true. */
async function rejects(p, test, what) {
    let err = null;
    try {
        await p;
    } catch (e) {
        err = e;
    }
    if (err === null) {
        throw new assert.AssertionError({ message: `${what}: expected a rejection, got success` });
    }
    if (!test(err)) {
        throw new assert.AssertionError({
            message: `${what}: unexpected error ${err && err.name}: ${err && err.message}` +
                (err && err.code !== undefined ? ` (code ${err.code})` : ''),
        });
    }
    return err;
}

/** Resolve with 'timeout' if p has not settled within ms (p keeps running). */
function within(p, ms) {
    let timer;
    const t = new Promise(resolve => {
        timer = setTimeout(() => resolve('timeout'), ms);
    });
    return Promise.race([p.then(v => ({ value: v })), t]).finally(() => clearTimeout(timer));
}

function sleep(ms) {
    return new Promise(resolve => setTimeout(resolve, ms));
}

/** Keys of beanstalkd's flat YAML dict, in order (for key-order checks). */
function yamlKeys(text) {
    return text.split('\n').filter(l => l && l !== '---').map(l => l.split(': ')[0]);
}

/** beanstalkd's flat YAML as {key: string} or [string], from raw text. */
function parseYaml(text) {
    const lines = text.split('\n').filter(l => l && l !== '---');
    if (lines.length && lines[0].startsWith('- ')) {
        return lines.map(l => l.slice(2));
    }
    const out = {};
    for (const l of lines) {
        const i = l.indexOf(': ');
        out[l.slice(0, i)] = l.slice(i + 2);
    }
    return out;
}

async function runCleanups() {
    const fns = cleanups;
    cleanups = [];
    for (const fn of fns.reverse()) {
        try {
            await within(Promise.resolve().then(fn), 1000);
        } catch (e) {
            // A close that fails does not change the check's verdict.
        }
    }
}

async function run() {
    const start = Date.now();
    for (const { name, fn } of checks) {
        if (Date.now() - start > SUITE_BUDGET_MS) {
            failed += 1;
            console.log(`FAIL ${name}: not run, suite budget of ${SUITE_BUDGET_MS} ms used up`);
            continue;
        }
        let timer;
        const deadline = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`check timed out after ${CHECK_TIMEOUT_MS} ms`)),
                CHECK_TIMEOUT_MS);
        });
        try {
            await Promise.race([Promise.resolve().then(fn), deadline]);
            passed += 1;
            console.log(`ok   ${name}`);
        } catch (e) {
            failed += 1;
            console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`);
        } finally {
            clearTimeout(timer);
            await runCleanups();
        }
    }
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);
}

// An error event nobody listens to (e.g. ECONNRESET on a socket a client
// keeps internally) must fail the suite visibly, not crash it silently.
process.on('uncaughtException', e => {
    console.log(`FAIL uncaught exception: ${e && e.stack ? e.stack : e}`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    process.exit(1);
});

module.exports = {
    HOST, PORT, check, cleanup, tube, eq, ok, rejects, within, sleep, parseYaml, yamlKeys, run,
};
