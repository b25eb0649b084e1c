#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// browser_check.js: Debian's Chromium (headless, through playwright-core)
// opens tests/node/browser/index.html, whose MQTT.js browser bundle connects
// to the broker, subscribes, and lists the messages it receives.
//
//   node browser_check.js --base http://127.0.0.1:HTTPPORT --url wss://127.0.0.1:PORT/mqtt
//       --topic T [--expect TEXT ...] [--spki HASH ...] [--screenshot FILE]
//
//   --base URL               the static HTTP server that serves tests/node/
//   --url URL                broker URL for the page (ws:// or wss://)
//   --topic T --qos 0|1|2 --protocol-version 3|4|5 --client-id ID
//   --username U --password P
//   --pub TOPIC --message TEXT   the page also publishes once, when subscribed
//   --expect TEXT            wait until a message with this payload is listed
//                            (repeatable: all of them)
//   --expect-status STATE    connected (default), or error / closed for
//                            negative tests (then nothing else is waited for)
//   --spki HASH              base64 SHA-256 of a certificate's
//                            SubjectPublicKeyInfo whose certificate errors
//                            Chromium ignores (repeatable); the test CA is
//                            trusted this way, not by ignoring all errors
//   --screenshot FILE        PNG of the page at the end (also on failure)
//   --chromium PATH          (default /usr/bin/chromium)
//   --timeout MS             give up after MS (default 30000)
//
// stdout, one JSON object per line: {"event":"ready","status":..} once the
// page is subscribed (publish from then on); {"event":"console",...} for the
// page's console and errors; last {"event":"result","ok":..,"status":..,
// "messages":[{"topic","text","qos"}],"published":..,"screenshot":..,
// "error":..}. Exit status 0 when ok, 1 otherwise, 2 for bad usage.
'use strict';

const { parseArgs } = require('node:util');
const { chromium } = require('playwright-core');

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function usage(msg) {
    process.stderr.write('browser_check: ' + msg + '\n');
    process.exit(2);
}

let args;
try {
    args = parseArgs({
        options: {
            base: { type: 'string' },
            url: { type: 'string' },
            topic: { type: 'string' },
            qos: { type: 'string', default: '0' },
            'protocol-version': { type: 'string', default: '4' },
            'client-id': { type: 'string' },
            username: { type: 'string' },
            password: { type: 'string' },
            pub: { type: 'string' },
            message: { type: 'string' },
            expect: { type: 'string', multiple: true, default: [] },
            'expect-status': { type: 'string', default: 'connected' },
            spki: { type: 'string', multiple: true, default: [] },
            screenshot: { type: 'string' },
            chromium: { type: 'string', default: '/usr/bin/chromium' },
            timeout: { type: 'string', default: '30000' },
        },
        strict: true,
        allowPositionals: false,
    }).values;
} catch (e) {
    usage(e.message);
}
for (const name of ['base', 'url', 'topic']) {
    if (!args[name]) usage(`--${name} is required`);
}
if (!['connected', 'error', 'closed'].includes(args['expect-status'])) {
    usage('--expect-status must be connected, error or closed');
}
const timeoutMs = Number(args.timeout);
if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) usage('--timeout must be a positive integer');

const query = new URLSearchParams({
    url: args.url,
    topic: args.topic,
    qos: args.qos,
    v: args['protocol-version'],
});
for (const [opt, key] of [
    ['client-id', 'client_id'],
    ['username', 'username'],
    ['password', 'password'],
    ['pub', 'pub'],
    ['message', 'message'],
]) {
    if (args[opt] !== undefined) query.set(key, args[opt]);
}
const pageUrl = args.base.replace(/\/+$/, '') + '/browser/index.html?' + query.toString();

const launchArgs = ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'];
// Chromium refuses to start its sandbox as root.
if (typeof process.getuid === 'function' && process.getuid() === 0) {
    launchArgs.push('--no-sandbox');
}
if (args.spki.length) {
    launchArgs.push('--ignore-certificate-errors-spki-list=' + args.spki.join(','));
}

let browser = null;
let page = null;
let finished = false;
const started = Date.now();
const remaining = () => Math.max(1, timeoutMs - (Date.now() - started));

async function pageState() {
    if (!page) return { status: null, state: null, messages: [], published: null };
    try {
        return await page.evaluate(() => {
            const st = document.getElementById('status');
            const pub = document.getElementById('published');
            return {
                status: st ? st.textContent : null,
                state: st ? st.dataset.state : null,
                published: pub && pub.textContent ? pub.textContent : null,
                messages: Array.from(document.querySelectorAll('li.msg')).map((li) => ({
                    topic: li.dataset.topic,
                    text: li.textContent,
                    qos: Number(li.dataset.qos),
                })),
            };
        });
    } catch (e) {
        return { status: null, state: null, messages: [], published: null, evalError: e.message };
    }
}

async function finish(ok, error) {
    if (finished) return;
    finished = true;
    const st = await pageState();
    let shot = null;
    if (args.screenshot && page) {
        try {
            await page.screenshot({ path: args.screenshot, fullPage: true, timeout: 5000 });
            shot = args.screenshot;
        } catch (e) {
            error = (error ? error + '; ' : '') + 'screenshot failed: ' + e.message;
        }
    }
    const result = {
        event: 'result',
        ok,
        status: st.status,
        messages: st.messages,
        published: st.published,
        screenshot: shot,
        ms: Date.now() - started,
    };
    if (error) result.error = error;
    emit(result);
    if (browser) {
        const closed = browser.close().catch(() => {});
        await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
    }
    process.exit(ok ? 0 : 1);
}

// The hard limit: whatever is pending, report and leave within the timeout.
setTimeout(() => {
    finish(false, `timeout after ${timeoutMs} ms`).catch(() => process.exit(1));
    setTimeout(() => process.exit(1), 8000).unref();
}, timeoutMs).unref();

async function main() {
    browser = await chromium.launch({
        executablePath: args.chromium,
        headless: true,
        chromiumSandbox: false,
        args: launchArgs,
        timeout: remaining(),
    });
    page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    page.on('console', (m) => emit({ event: 'console', type: m.type(), text: m.text() }));
    page.on('pageerror', (e) => emit({ event: 'console', type: 'pageerror', text: e.message }));
    await page.goto(pageUrl, { waitUntil: 'load', timeout: remaining() });

    // The status leaves "loading"/"connecting" once the page has an outcome.
    await page.waitForFunction(
        () => {
            const s = document.getElementById('status').dataset.state;
            return s === 'connected' || s === 'error' || s === 'closed';
        },
        null,
        { timeout: remaining(), polling: 50 },
    );
    const st = await pageState();
    if (st.state !== args['expect-status']) {
        return finish(false, `page status is "${st.status}", wanted ${args['expect-status']}`);
    }
    if (st.state !== 'connected') return finish(true);
    emit({ event: 'ready', status: st.status });

    if (args.expect.length) {
        await page.waitForFunction(
            (want) => {
                const s = document.getElementById('status').dataset.state;
                if (s !== 'connected') return true; // lost the connection: stop waiting
                const have = new Set(
                    Array.from(document.querySelectorAll('li.msg')).map((li) => li.textContent),
                );
                return want.every((w) => have.has(w));
            },
            args.expect,
            { timeout: remaining(), polling: 50 },
        );
        const after = await pageState();
        const have = new Set(after.messages.map((m) => m.text));
        const missing = args.expect.filter((w) => !have.has(w));
        if (missing.length) {
            return finish(false, `status "${after.status}"; missing ${JSON.stringify(missing)}`);
        }
    }
    if (args.pub) {
        await page.waitForFunction(
            () => document.getElementById('published').textContent !== '',
            null,
            { timeout: remaining(), polling: 50 },
        );
        const after = await pageState();
        if (after.published !== 'published') {
            return finish(false, 'page publish: ' + after.published);
        }
    }
    return finish(true);
}

main().catch((e) => finish(false, e.message.split('\n')[0]));
