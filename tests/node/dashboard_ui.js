#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Drives moat's web dashboard (served by the broker itself) in headless
// Chromium through playwright-core, the way an administrator would, for
// tests/integration/test_51_dashboard_ui.py:
//
//   1. the login page; a wrong password is refused, the right one logs in;
//   2. the overview: the charts are drawn from a few stats samples;
//   3. the listeners page lists --listener; its connection count goes up
//      (the Python test connects mosquitto_sub over TLS after the
//      "listeners" event);
//   4. clients: search by client id prefix (--clients), page through them,
//      kick --kick after confirming in the dialog;
//   5. certificates: the real API (a "not available in this version" notice
//      when it answers 404), then the page against a mocked API
//      (page.route): chains with expiry colours, the upload form with a
//      client-side check and a 422 {"field"} from the "server" shown next
//      to its field;
//   6. with --good-cert/--good-chain/--good-key/--bad-key, an upload to the
//      real certificates API: a key of another certificate is refused under
//      the private key field, then the good chain is accepted and shown;
//   7. subscriptions of the --clients sessions (a shared group among them);
//      retained messages under --retained, one deleted through the dialog;
//      settings: an API key made (its secret shown once) and deleted;
//   8. the session ending under the page (the login comes back, then the
//      same page); logout.
// Throughout: no Content-Security-Policy violation, no page error, no
// request leaving the dashboard's origin.
//
// Usage: node dashboard_ui.js --url https://localhost:PORT --password PW
//          --listener ssl:mqtts --clients PREFIX --kick CLIENTID
//          [--expect-clients N] [--spki HASH]... [--screenshots DIR]
//          [--retained PREFIX] [--good-cert F --good-chain F --good-key F --bad-key F]
//          [--chromium PATH] [--timeout MS]
//
// stdout, one JSON object per line: {"event": "login_page"}, "logged_in",
// "overview" {points}, "listeners" {count} (connect a TLS client now),
// "count_up" {count}, "clients" {count, pages}, "kicked" {clientid},
// "certificates" {available}, "certificates_upload" {key}, "certificates_mock",
// "subscriptions" {count}, "retained_deleted" {topic}, "api_key" {id, secret},
// "api_key_deleted", "relogin", "logged_out";
// {"event":"console",...} for the page's console; last {"event":"result",
// "ok", "error"?, "screenshots": [...]}. Exit status 0 when ok, 1 otherwise,
// 2 for bad usage.
'use strict';

const path = require('node:path');
const { parseArgs } = require('node:util');
const { chromium } = require('playwright-core');

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function usage(msg) {
    process.stderr.write('dashboard_ui: ' + msg + '\n');
    process.exit(2);
}

let args;
try {
    args = parseArgs({
        options: {
            url: { type: 'string' },
            username: { type: 'string', default: 'admin' },
            password: { type: 'string' },
            listener: { type: 'string', default: 'ssl:mqtts' },
            clients: { type: 'string' },
            kick: { type: 'string' },
            'expect-clients': { type: 'string' },
            spki: { type: 'string', multiple: true, default: [] },
            screenshots: { type: 'string' },
            retained: { type: 'string' },
            'good-cert': { type: 'string' },
            'good-chain': { type: 'string' },
            'good-key': { type: 'string' },
            'bad-key': { type: 'string' },
            chromium: { type: 'string', default: '/usr/bin/chromium' },
            timeout: { type: 'string', default: '90000' },
        },
        strict: true,
        allowPositionals: false,
    }).values;
} catch (e) {
    usage(e.message);
}
for (const name of ['url', 'password', 'clients', 'kick']) {
    if (!args[name]) usage(`--${name} is required`);
}
const timeoutMs = Number(args.timeout);
if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) usage('--timeout must be a positive integer');
const base = args.url.replace(/\/+$/, '');
const origin = new URL(base).origin;

const launchArgs = ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'];
if (typeof process.getuid === 'function' && process.getuid() === 0) {
    launchArgs.push('--no-sandbox'); // Chromium refuses its sandbox as root
}
if (args.spki.length) {
    launchArgs.push('--ignore-certificate-errors-spki-list=' + args.spki.join(','));
}

let browser = null;
let page = null;
let finished = false;
const problems = []; // CSP violations, page errors, foreign requests
const shots = [];
const started = Date.now();
const remaining = () => Math.max(1, timeoutMs - (Date.now() - started));

async function shot(name, target) {
    if (!args.screenshots || !page) return;
    const file = path.join(args.screenshots, `dashboard-${name}.png`);
    await (target || page).screenshot({ path: file, fullPage: !target, timeout: 10000 });
    shots.push(file);
}

async function finish(ok, error) {
    if (finished) return;
    finished = true;
    if (!ok && page) {
        try {
            await shot('failure');
        } catch {
            // the page may be gone
        }
    }
    const result = { event: 'result', ok, screenshots: shots, ms: Date.now() - started };
    if (error) result.error = error;
    emit(result);
    if (browser) {
        const closed = browser.close().catch(() => {});
        await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
    }
    process.exit(ok ? 0 : 1);
}

setTimeout(() => {
    finish(false, `timeout after ${timeoutMs} ms`).catch(() => process.exit(1));
    setTimeout(() => process.exit(1), 8000).unref();
}, timeoutMs).unref();

function check(cond, what) {
    if (!cond) throw new Error(what);
}

const wait = (fn, arg, ms) => page.waitForFunction(fn, arg, { timeout: Math.min(ms || 20000, remaining()), polling: 100 });

async function text(sel) {
    return (await page.locator(sel).first().textContent()) || '';
}

async function go(route) {
    await page.evaluate((r) => {
        location.hash = r;
    }, route);
    await wait((r) => {
        const s = document.querySelector(`[data-page="${r.replace('#/', '').split('?')[0]}"]`);
        return s && !s.hidden;
    }, route);
}

// ------------------------------------------------------------ steps

async function loginStep() {
    await page.goto(base + '/', { waitUntil: 'load', timeout: remaining() });
    await page.locator('#login-form').waitFor({ state: 'visible', timeout: remaining() });
    emit({ event: 'login_page' });
    await shot('login');
    await page.fill('#login-user', args.username);
    await page.fill('#login-pass', 'not-the-password');
    await page.click('#login-submit');
    await page.locator('#login-error').waitFor({ state: 'visible', timeout: 10000 });
    check(/wrong username or password/i.test(await text('#login-error')), 'no error for a wrong password');
    await page.fill('#login-pass', args.password);
    await page.click('#login-submit');
    await page.locator('#app-view').waitFor({ state: 'visible', timeout: 10000 });
    check((await text('#whoami')) === args.username, 'the user name is not shown');
    emit({ event: 'logged_in' });
}

async function overviewStep() {
    await go('#/overview');
    // two samples at least (2 s apart), and ink on the canvas
    await wait(() => Number(document.getElementById('chart-conns').dataset.points) >= 3, null, 20000);
    const drawn = await page.evaluate(() => {
        const out = {};
        for (const id of ['chart-conns', 'chart-rates']) {
            const c = document.getElementById(id);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            // the series are coloured, the grid and labels grey
            let ink = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (d[i + 3] > 128 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 80) ink++;
            }
            out[id] = { ink, points: Number(c.dataset.points), w: c.width, h: c.height, label: c.getAttribute('aria-label') };
        }
        out.connections = document.getElementById('st-connections').textContent;
        return out;
    });
    check(drawn['chart-conns'].ink > 300 && drawn['chart-rates'].ink > 300, 'no line on the charts: ' + JSON.stringify(drawn));
    check(/^\d+$/.test(drawn.connections), 'no connection count on the overview');
    check(/now \d+/.test(drawn['chart-conns'].label), 'the chart has no text alternative');
    await shot('overview');
    emit({ event: 'overview', points: drawn['chart-conns'].points, connections: Number(drawn.connections) });
}

async function listenersStep() {
    await go('#/listeners');
    const row = `#listeners-table tr[data-id="${args.listener}"]`;
    await page.locator(row).waitFor({ timeout: 10000 });
    const count = async () => Number((await text(`${row} .conns .count`)).replace(/,/g, ''));
    const before = await count();
    const cells = await page.locator(`${row} > *`).allTextContents();
    check(cells[1] === 'ssl' && /^127\.0\.0\.1:\d+$/.test(cells[2]) && cells[3].includes('running'), 'listener row: ' + JSON.stringify(cells));
    check(/days left/.test(cells[6]), 'no expiry in the TLS column: ' + cells[6]);
    emit({ event: 'listeners', count: before, cells });
    // the Python side connects a TLS client now; the page refreshes itself
    await wait(
        ([sel, n]) => {
            const c = document.querySelector(sel);
            return c && Number(c.textContent.replace(/,/g, '')) > n;
        },
        [`${row} .conns .count`, before],
        20000,
    );
    const after = await count();
    await shot('listeners');
    emit({ event: 'count_up', count: after });
}

async function clientsStep() {
    await go('#/clients');
    await page.fill('#cs-clientid', args.clients);
    await page.selectOption('#cs-limit', '10'); // submits the search
    const want = args['expect-clients'] ? Number(args['expect-clients']) : null;
    await wait(
        ([prefix, n]) => {
            const info = document.getElementById('clients-pageinfo');
            const rows = Array.from(document.querySelectorAll('#clients-table tbody tr[data-clientid]'));
            return (
                location.hash.includes('clientid=') &&
                rows.length > 0 &&
                rows.every((r) => r.dataset.clientid.includes(prefix)) &&
                (n === null || Number(info.dataset.count) === n)
            );
        },
        [args.clients, want],
    );
    const count = Number(await page.locator('#clients-pageinfo').getAttribute('data-count'));
    const pages = Math.ceil(count / 10);
    const firstRows = await page.locator('#clients-table tbody tr[data-clientid]').count();
    check(firstRows === Math.min(10, count), `page 1 shows ${firstRows} rows of ${count}`);
    check((await text('#clients-pageinfo')).startsWith(`Page 1 of ${pages}`), 'page info: ' + (await text('#clients-pageinfo')));
    await shot('clients');
    if (pages > 1) {
        await page.click('#clients-next');
        await wait((p) => document.getElementById('clients-pageinfo').textContent.startsWith(`Page 2 of ${p}`), pages);
        const rows2 = await page.locator('#clients-table tbody tr[data-clientid]').count();
        check(rows2 === Math.min(10, count - 10), `page 2 shows ${rows2} rows`);
        check(!(await page.locator('#clients-prev').isDisabled()), 'Previous is disabled on page 2');
    }
    emit({ event: 'clients', count, pages });

    // kick one, through the confirmation dialog
    await page.fill('#cs-clientid', args.kick);
    await page.click('#clients-search button[type=submit]');
    const row = page.locator(`#clients-table tbody tr[data-clientid="${args.kick}"]`);
    await row.waitFor({ timeout: 10000 });
    await row.locator('button.kick').click();
    await page.locator('#confirm').waitFor({ state: 'visible', timeout: 5000 });
    check((await text('#confirm-text')).includes(args.kick), 'the dialog does not name the client');
    await shot('clients-kick');
    // Cancel first: nothing happens
    await page.click('#confirm-cancel');
    await page.waitForTimeout(300);
    check((await row.count()) === 1, 'the row went away after Cancel');
    await row.locator('button.kick').click();
    await page.click('#confirm-ok');
    await wait((id) => document.getElementById('flash').textContent.includes(id), args.kick);
    await wait(() => document.getElementById('clients-pageinfo').dataset.count === '0');
    emit({ event: 'kicked', clientid: args.kick });
}

async function realCertificatesStep() {
    await go('#/certificates');
    await wait(
        (id) =>
            document.getElementById('certs-notice').dataset.state === 'unavailable' ||
            !!document.querySelector(`.cert-listener[data-listener="${id}"]`),
        args.listener,
    );
    const available = await page.evaluate(() => document.getElementById('certs-notice').dataset.state !== 'unavailable');
    const card = page.locator(`.cert-listener[data-listener="${args.listener}"]`);
    await card.waitFor({ timeout: 10000 });
    check((await card.locator('.cert .cert-cn').first().textContent()) === 'localhost', 'the leaf CN is not shown');
    check((await card.locator('.days.ok').count()) >= 1, 'a long-lived certificate is not green');
    if (!available) {
        check(/not available in this version/.test(await text('#certs-notice')), 'no "not available" notice');
        check((await card.locator('form').count()) === 0, 'an upload form without an API');
    }
    await shot('certificates');
    emit({ event: 'certificates', available });
}

// The page against the certificates API as designed, served by page.route.
const PEM = (label) => `-----BEGIN ${label}-----\nTUlJQm9n\n-----END ${label}-----\n`;

function mockCert(subject, issuer, days, extra) {
    const t = new Date(Date.now() + days * 86400000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
    return {
        subject,
        issuer,
        not_after: t,
        days_left: days,
        fingerprint: 'ab'.repeat(32),
        serial: '1001',
        key: 'EC P-256',
        ...extra,
    };
}

async function mockedCertificatesStep() {
    const listing = {
        data: [
            {
                listener: 'ssl:mock-green',
                type: 'ssl',
                bind: '0.0.0.0:8883',
                mode: 'one-way',
                source: 'uploaded',
                chain: [
                    mockCert('CN=broker.example,O=Example', 'CN=Example Issuing CA,O=Example', 400, { dns: ['broker.example'] }),
                    mockCert('CN=Example Issuing CA,O=Example', 'CN=Example Root,O=Example', 1500, { is_ca: true }),
                ],
            },
            {
                listener: 'wss:mock-orange',
                type: 'wss',
                bind: '0.0.0.0:8084',
                mode: 'two-way',
                chain: [mockCert('CN=ws.example', 'CN=Example Root,O=Example', 20)],
                client_ca: [mockCert('CN=Devices CA', 'CN=Devices CA', 3000, { self_signed: true, is_ca: true })],
            },
            {
                listener: 'ssl:mock-red',
                type: 'ssl',
                bind: '0.0.0.0:8885',
                mode: 'one-way',
                chain: [mockCert('CN=old.example', 'CN=old.example', 3, { self_signed: true })],
            },
        ],
    };
    const posted = [];
    await page.route(
        (u) => u.pathname === '/api/v1/certificates',
        (r) => r.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(listing) }),
    );
    await page.route(
        (u) => u.pathname.startsWith('/api/v1/certificates/'),
        (r) => {
            posted.push({ url: r.request().url(), method: r.request().method(), body: r.request().postDataJSON() });
            return r.fulfill({
                status: 422,
                contentType: 'application/json',
                body: JSON.stringify({ code: 'key_mismatch', message: 'the private key does not belong to the certificate', field: 'private_key' }),
            });
        },
    );
    await go('#/overview');
    await go('#/certificates');
    await page.locator('.cert-listener[data-listener="ssl:mock-red"]').waitFor({ timeout: 10000 });
    check(await page.locator('#certs-notice').isHidden(), 'the notice is shown although the API answered');
    const colours = await page.evaluate(() =>
        Array.from(document.querySelectorAll('.cert-listener')).map((a) => ({
            id: a.dataset.listener,
            leaf: a.querySelector('.chain .cert .days').className,
            certs: a.querySelectorAll('.chain > .cert').length,
        })),
    );
    const by = Object.fromEntries(colours.map((c) => [c.id, c]));
    check(by['ssl:mock-green'].leaf === 'days ok', 'green: ' + JSON.stringify(by));
    check(by['wss:mock-orange'].leaf === 'days warn', 'orange: ' + JSON.stringify(by));
    check(by['ssl:mock-red'].leaf === 'days bad', 'red: ' + JSON.stringify(by));
    // leaf, intermediate, and the root that is not sent
    check(by['ssl:mock-green'].certs === 3, 'the chain is not drawn to its issuer: ' + JSON.stringify(by));
    await shot('certificates-mock');

    const card = page.locator('.cert-listener[data-listener="ssl:mock-green"]');
    await card.locator('summary').click();
    const form = card.locator('form');
    // client-side: two-way needs a client CA
    await form.locator('textarea[name=certificate]').fill(PEM('CERTIFICATE'));
    await form.locator('textarea[name=private_key]').fill(PEM('PRIVATE KEY'));
    await form.locator('input[name=mode][value=two-way]').check();
    await form.locator('button[type=submit]').click();
    const caErr = form.locator('[data-field=client_ca] .field-error');
    await caErr.waitFor({ state: 'visible', timeout: 5000 });
    check(/client certificates/.test(await caErr.textContent()), 'client CA message: ' + (await caErr.textContent()));
    check((await form.locator('textarea[name=client_ca]').getAttribute('aria-invalid')) === 'true', 'client CA not marked invalid');
    check(posted.length === 0, 'posted although the form is incomplete');
    // server-side: the 422's field gets the message
    await form.locator('input[name=mode][value=one-way]').check();
    await form.locator('input[name=key_password]').fill('pw');
    await form.locator('button[type=submit]').click();
    const keyErr = form.locator('[data-field=private_key] .field-error');
    await keyErr.waitFor({ state: 'visible', timeout: 5000 });
    check((await keyErr.textContent()) === 'the private key does not belong to the certificate', 'key message: ' + (await keyErr.textContent()));
    const keyBox = form.locator('textarea[name=private_key]');
    check((await keyBox.getAttribute('aria-invalid')) === 'true', 'the key field is not marked invalid');
    const described = (await keyBox.getAttribute('aria-describedby')) || '';
    check(described.split(' ').includes(await keyErr.getAttribute('id')), 'the message is not tied to the field');
    check(await caErr.isHidden(), 'an old message stayed');
    check(posted.length === 1 && posted[0].method === 'POST', 'posts: ' + JSON.stringify(posted));
    check(posted[0].url.endsWith('/api/v1/certificates/ssl%3Amock-green'), 'upload URL: ' + posted[0].url);
    const b = posted[0].body;
    check(
        b.certificate === PEM('CERTIFICATE') && b.private_key === PEM('PRIVATE KEY') && b.key_password === 'pw' && b.mode === 'one-way' && b.chain === '',
        'upload body: ' + JSON.stringify(b),
    );
    await card.scrollIntoViewIfNeeded();
    await shot('certificates-upload-error', card);
    await page.unroute((u) => u.pathname === '/api/v1/certificates');
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    emit({ event: 'certificates_mock' });
}

// The real upload: refused with the key of another certificate, then accepted.
async function realUploadStep() {
    const fs = require('node:fs');
    const read = (f) => fs.readFileSync(f, 'utf8');
    await go('#/certificates');
    const card = page.locator(`.cert-listener[data-listener="${args.listener}"]`);
    await card.waitFor({ timeout: 10000 });
    const before = await card.locator('.cert .fp').first().getAttribute('title');
    await card.locator('summary').click();
    const form = card.locator('form');
    await form.locator('textarea[name=certificate]').fill(read(args['good-cert']));
    await form.locator('textarea[name=chain]').fill(read(args['good-chain']));
    await form.locator('textarea[name=private_key]').fill(read(args['bad-key']));
    await form.locator('button[type=submit]').click();
    const keyErr = form.locator('[data-field=private_key] .field-error');
    await keyErr.waitFor({ state: 'visible', timeout: 10000 });
    check(/does not belong to the certificate/.test(await keyErr.textContent()), 'key message: ' + (await keyErr.textContent()));
    check((await form.locator('textarea[name=private_key]').getAttribute('aria-invalid')) === 'true', 'the key field is not marked invalid');
    await card.scrollIntoViewIfNeeded();
    await shot('certificates-real-error', card);
    await form.locator('textarea[name=private_key]').fill(read(args['good-key']));
    await form.locator('button[type=submit]').click();
    await wait(() => /is in use/.test(document.getElementById('flash').textContent), null, 20000);
    // the card is drawn again from GET /api/v1/certificates: the new leaf
    await wait(
        ([id, old]) => {
            const c = document.querySelector(`.cert-listener[data-listener="${id}"]`);
            const fp = c && c.querySelector('.cert .fp');
            return fp && fp.title !== old;
        },
        [args.listener, before],
    );
    const fresh = page.locator(`.cert-listener[data-listener="${args.listener}"]`);
    const leaf = await fresh.locator('.chain .cert').first().textContent();
    check(/EC P-256/.test(leaf), 'the new leaf is not the EC one: ' + leaf);
    check((await fresh.locator('.chain .cert .days.ok').count()) >= 1, 'the new chain has no expiry badge');
    check((await fresh.locator('.chain > .cert').count()) >= 2, 'the intermediate is not shown');
    await fresh.scrollIntoViewIfNeeded();
    await shot('certificates-real-uploaded', fresh);
    emit({ event: 'certificates_upload', key: 'EC P-256' });
}

async function subscriptionsStep() {
    await go('#/subscriptions');
    await page.fill('#ss-clientid', args.clients);
    await page.click('#subs-search button[type=submit]');
    await wait((prefix) => {
        const rows = Array.from(document.querySelectorAll('#subs-table tbody tr[data-clientid]'));
        return rows.length >= 2 && rows.every((r) => r.dataset.clientid.includes(prefix));
    }, args.clients);
    check((await page.locator('#subs-table tbody .badge').count()) >= 1, 'no shared group shown');
    const count = Number(await page.locator('#subs-pageinfo').getAttribute('data-count'));
    await shot('subscriptions');
    emit({ event: 'subscriptions', count });
}

async function retainedStep() {
    if (!args.retained) return;
    await go('#/retained');
    await page.fill('#rs-topic', args.retained + '/#');
    await page.click('#ret-search button[type=submit]');
    await wait(() => document.querySelectorAll('#ret-table tbody tr[data-topic]').length === 2);
    const one = page.locator(`#ret-table tbody tr[data-topic="${args.retained}/one"]`);
    check(/hello retained/.test(await one.textContent()), 'the text preview: ' + (await one.textContent()));
    await shot('retained');
    await one.locator('button.delete').click();
    await page.locator('#confirm').waitFor({ state: 'visible', timeout: 5000 });
    check((await text('#confirm-text')).includes(args.retained + '/one'), 'the dialog does not name the topic');
    await page.click('#confirm-ok');
    await wait(() => /was deleted/.test(document.getElementById('flash').textContent));
    await wait(() => document.querySelectorAll('#ret-table tbody tr[data-topic]').length === 1);
    emit({ event: 'retained_deleted', topic: args.retained + '/one' });
}

async function settingsStep() {
    await go('#/settings');
    await page.fill('#key-name', 'ui test key');
    await page.click('#key-form button[type=submit]');
    await page.locator('#key-new').waitFor({ state: 'visible', timeout: 10000 });
    const id = await text('#key-new-id');
    const secret = await text('#key-new-secret');
    check(/^[0-9a-f]{16}$/.test(id) && /^[0-9a-f]{48}$/.test(secret), 'new key: ' + id + ' ' + secret);
    const row = page.locator(`#keys-table tbody tr[data-id="${id}"]`);
    await row.waitFor({ timeout: 10000 });
    check(!(await row.textContent()).includes(secret), 'the secret is listed');
    await shot('settings');
    const status = await page.evaluate(
        async (h) => (await fetch('/api/v1/stats', { credentials: 'omit', headers: { Authorization: h } })).status,
        'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64'),
    );
    check(status === 200, 'the new API key is refused: ' + status);
    emit({ event: 'api_key', id, secret });
    // the secret is not shown again when one comes back
    await go('#/overview');
    await go('#/settings');
    check(await page.locator('#key-new').isHidden(), 'the secret is shown again');
    await row.locator('button.delete').click();
    await page.click('#confirm-ok');
    await row.waitFor({ state: 'detached', timeout: 10000 });
    emit({ event: 'api_key_deleted', id });
}

async function sessionAndLogoutStep() {
    // the session ends under the page (the cookie is gone): the next poll
    // gets a 401 and the login comes back, then the same page
    await page.context().clearCookies();
    await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10000 });
    check(/session has ended/.test(await text('#login-notice')), 'no notice: ' + (await text('#login-notice')));
    check((await page.inputValue('#login-user')) === args.username, 'the user name is not kept');
    await page.fill('#login-pass', args.password);
    await page.click('#login-submit');
    await page.locator('[data-page="settings"]').waitFor({ state: 'visible', timeout: 10000 });
    emit({ event: 'relogin' });
    await page.click('#logout');
    await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10000 });
    const status = await page.evaluate(async () => (await fetch('/api/v1/stats')).status);
    check(status === 401, 'the session still works after logout: ' + status);
    emit({ event: 'logged_out' });
}

async function main() {
    if (args.screenshots) require('node:fs').mkdirSync(args.screenshots, { recursive: true });
    browser = await chromium.launch({
        executablePath: args.chromium,
        headless: true,
        chromiumSandbox: false,
        args: launchArgs,
        timeout: remaining(),
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
    page = await context.newPage();
    page.on('console', (m) => {
        emit({ event: 'console', type: m.type(), text: m.text() });
        if (/Content Security Policy/i.test(m.text())) problems.push('CSP: ' + m.text());
    });
    page.on('pageerror', (e) => {
        emit({ event: 'console', type: 'pageerror', text: e.message });
        problems.push('page error: ' + e.message);
    });
    page.on('request', (r) => {
        const u = r.url();
        if (!u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:')) problems.push('foreign request: ' + u);
    });
    page.on('response', (r) => {
        // the app asks for nothing that is not there, apart from the
        // certificates API on a broker without it
        if (r.status() === 404 && !r.url().endsWith('/api/v1/certificates')) problems.push('404: ' + r.url());
    });

    await loginStep();
    await overviewStep();
    await listenersStep();
    await clientsStep();
    await realCertificatesStep();
    if (args['good-cert']) await realUploadStep();
    await mockedCertificatesStep();
    await subscriptionsStep();
    await retainedStep();
    await settingsStep();
    await sessionAndLogoutStep();
    if (problems.length) return finish(false, problems.join('; '));
    return finish(true);
}

main().catch((e) => finish(false, (e.message || String(e)).split('\n')[0] + (problems.length ? '; ' + problems.join('; ') : '')));
