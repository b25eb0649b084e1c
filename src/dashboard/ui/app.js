// SPDX-License-Identifier: Apache-2.0
//
// moat's dashboard: a single-page app over the broker's HTTP API (/api/v1).
// Plain JavaScript, no framework, no build step; served from the broker
// binary with a Content-Security-Policy that allows no inline script or
// style, so everything lives here and in app.css.
//
// The login sets an HttpOnly session cookie: the app never sees a token, it
// just calls the API and goes back to the login form on 401.
//
// Routes (location.hash): #/overview, #/listeners, #/clients?clientid=..,
// #/subscriptions, #/retained, #/certificates, #/settings. Every value from the API reaches the page
// through textContent, never as HTML.

const POLL_MS = 2000; // stats and listeners
const WINDOW_POINTS = 150; // 5 minutes of 2-second samples

// ------------------------------------------------------------ helpers

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// el('td', {class: 'num'}, 'text', childNode, ...)
function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'dataset') Object.assign(e.dataset, v);
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
        if (c === null || c === undefined || c === false) continue;
        e.append(c instanceof Node ? c : String(c));
    }
    return e;
}

const intFmt = new Intl.NumberFormat('en-US');
function fmtInt(n) {
    return typeof n === 'number' && isFinite(n) ? intFmt.format(Math.round(n)) : '–';
}

function fmtRate(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    if (n >= 100) return intFmt.format(Math.round(n));
    return n.toFixed(n >= 10 ? 1 : 2).replace(/\.?0+$/, '') || '0';
}

// 1500 -> "1.5k": axis labels.
function fmtCompact(n) {
    const a = Math.abs(n);
    for (const [d, s] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
        if (a >= d) return (n / d).toFixed(a >= 10 * d ? 0 : 1).replace(/\.0$/, '') + s;
    }
    if (Number.isInteger(n)) return String(n);
    return n.toFixed(2).replace(/\.?0+$/, '');
}

function fmtBytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
        n /= 1024;
        i++;
    }
    return (i ? n.toFixed(n >= 100 ? 0 : 1) : String(n)) + ' ' + units[i];
}

function fmtDuration(s) {
    if (typeof s !== 'number' || !isFinite(s)) return '–';
    s = Math.floor(s);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s % 60}s`;
    return `${s}s`;
}

function fmtTime(d) {
    return d.toLocaleTimeString('en-GB', { hour12: false });
}

function fmtDateTime(epochSeconds) {
    if (typeof epochSeconds !== 'number') return '–';
    const d = new Date(epochSeconds * 1000);
    return d.toLocaleString('en-GB', { hour12: false });
}

const PROTO = { 3: '3.1', 4: '3.1.1', 5: '5.0' };

// The CN of an RFC 2253 name ("CN=localhost,O=moat test"), or the name.
function commonName(dn) {
    if (!dn) return '';
    const m = /(?:^|,)\s*CN=((?:\\.|[^,])*)/.exec(dn);
    return m ? m[1].replace(/\\(.)/g, '$1') : dn;
}

// Days to expiry as a coloured badge with words (never colour alone).
function daysBadge(days) {
    if (typeof days !== 'number') return el('span', { class: 'days' }, 'expiry unknown');
    const cls = days < 7 ? 'bad' : days < 30 ? 'warn' : 'ok';
    let text;
    if (days < 0) text = `expired ${-days} day${days === -1 ? '' : 's'} ago`;
    else if (days === 0) text = 'expires today';
    else text = `${days} day${days === 1 ? '' : 's'} left`;
    return el('span', { class: 'days ' + cls, dataset: { days: String(days) } }, text);
}

// ------------------------------------------------------------ API

class HttpError extends Error {
    constructor(status, body) {
        super((body && body.message) || `HTTP ${status}`);
        this.status = status;
        this.body = body || {};
    }
}

let onUnauthorized = () => {};

// JSON in, JSON out. Resolves with the body (null for 204); rejects with an
// HttpError (status, body {code, message, field?}) or a network TypeError.
async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
        opts.headers['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    let data = null;
    const text = r.status === 204 ? '' : await r.text();
    if (text) {
        try {
            data = JSON.parse(text);
        } catch {
            data = { message: text.slice(0, 200) };
        }
    }
    if (r.status === 401 && path !== '/api/v1/login') {
        onUnauthorized();
    }
    if (!r.ok) throw new HttpError(r.status, data);
    return data;
}

function errText(e) {
    if (e instanceof HttpError) return e.message;
    return 'The broker did not answer (' + (e && e.message ? e.message : 'network error') + ').';
}

// ------------------------------------------------------------ flash + confirm

let flashTimer = 0;
function flash(text, kind = 'ok') {
    const f = $('#flash');
    f.textContent = text;
    f.dataset.kind = kind;
    f.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => {
        f.hidden = true;
    }, 6000);
}

// A modal question; resolves true when confirmed.
function confirmDialog(title, text, okLabel) {
    const d = $('#confirm');
    $('#confirm-title').textContent = title;
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = okLabel;
    d.returnValue = '';
    return new Promise((resolve) => {
        d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
        d.showModal();
        $('#confirm-cancel').focus();
    });
}

// ------------------------------------------------------------ chart

// A line chart on a <canvas>: series [{values, color ('--series-1'), fill, dash}]
// over times (ms). Sized to the element in CSS pixels times the device pixel
// ratio; colours come from CSS custom properties so app.css owns the theme.
function drawChart(canvas, times, series, opts = {}) {
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (!w || !h) return; // not on screen
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
        canvas.width = Math.round(w * dpr);
        canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const css = getComputedStyle(canvas);
    const color = (name) => css.getPropertyValue(name).trim() || '#888';
    const font = `11px ${css.fontFamily}`;

    const pad = { l: 44, r: 10, t: 8, b: 20 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;

    let max = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
    const ticks = 4;
    max = axisMax(max, opts.minMax || 1, ticks, !!opts.integer);

    // grid and y labels
    ctx.font = font;
    ctx.lineWidth = 1;
    ctx.strokeStyle = color('--grid');
    ctx.fillStyle = color('--muted');
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= ticks; i++) {
        const v = (max * i) / ticks;
        const y = Math.round(pad.t + ph - (ph * i) / ticks) + 0.5;
        ctx.beginPath();
        ctx.moveTo(pad.l, y);
        ctx.lineTo(pad.l + pw, y);
        ctx.stroke();
        ctx.fillText(fmtCompact(v), pad.l - 6, y);
    }

    const n = times.length;
    canvas.dataset.points = String(n);
    if (!n) {
        ctx.textAlign = 'center';
        ctx.fillText('waiting for data…', pad.l + pw / 2, pad.t + ph / 2);
        return;
    }
    // x: from the oldest sample kept (at most WINDOW_POINTS) to the newest
    const t1 = times[n - 1];
    const t0 = n > 1 ? times[0] : t1 - POLL_MS;
    const span = Math.max(1, t1 - t0);
    const x = (t) => pad.l + ((t - t0) / span) * pw;
    const y = (v) => pad.t + ph - (v / max) * ph;

    ctx.textBaseline = 'alphabetic';
    ctx.textAlign = 'left';
    ctx.fillText(fmtTime(new Date(t0)), pad.l, h - 5);
    ctx.textAlign = 'right';
    ctx.fillText(fmtTime(new Date(t1)), pad.l + pw, h - 5);

    for (const s of series) {
        const c = color(s.color);
        // the line, broken where a value is missing
        const runs = [];
        let run = [];
        s.values.forEach((v, i) => {
            if (v === null || v === undefined) {
                if (run.length) runs.push(run);
                run = [];
            } else {
                run.push([x(times[i]), y(v)]);
            }
        });
        if (run.length) runs.push(run);
        for (const r of runs) {
            if (s.fill && r.length > 1) {
                ctx.beginPath();
                ctx.moveTo(r[0][0], pad.t + ph);
                for (const [px, py] of r) ctx.lineTo(px, py);
                ctx.lineTo(r[r.length - 1][0], pad.t + ph);
                ctx.closePath();
                ctx.globalAlpha = 0.12;
                ctx.fillStyle = c;
                ctx.fill();
                ctx.globalAlpha = 1;
            }
            ctx.beginPath();
            ctx.strokeStyle = c;
            ctx.lineWidth = 2;
            ctx.lineJoin = 'round';
            // dashed series stay readable where they run over another
            ctx.setLineDash(s.dash ? [6, 4] : []);
            r.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
            ctx.stroke();
            ctx.setLineDash([]);
            if (r.length === 1) {
                ctx.fillStyle = c;
                ctx.beginPath();
                ctx.arc(r[0][0], r[0][1], 2.5, 0, 2 * Math.PI);
                ctx.fill();
            }
        }
    }
}

// The axis' top: `ticks` steps of 1, 2, 2.5 or 5 x 10^k that reach v (and
// floor); whole steps for counts.
function axisMax(v, floor, ticks, integer) {
    const want = Math.max(v, floor) / ticks;
    const p = Math.pow(10, Math.floor(Math.log10(want)));
    let step = 10 * p;
    for (const m of [1, 2, 2.5, 5]) {
        if (m * p >= want && !(integer && m * p < 10 && !Number.isInteger(m * p))) {
            step = m * p;
            break;
        }
    }
    if (integer) step = Math.max(1, step);
    return step * ticks;
}

// ------------------------------------------------------------ polling

// Runs fn now and then POLL_MS after each answer, until stop(). An answer
// that comes after stop() (or a new start()) schedules nothing, so two
// loops never run at once.
class Poller {
    constructor(fn) {
        this.fn = fn;
        this.gen = 0;
        this.timer = 0;
    }

    start() {
        this.stop();
        this.run(this.gen);
    }

    stop() {
        this.gen++;
        clearTimeout(this.timer);
        this.timer = 0;
    }

    async run(gen) {
        await this.fn();
        if (gen === this.gen) this.timer = setTimeout(() => this.run(gen), POLL_MS);
    }
}

// ------------------------------------------------------------ stats sampling

// Polled every POLL_MS while logged in (whatever the page), so the overview
// has a history when one comes back to it.
const samples = { t: [], conns: [], rin: [], rout: [] };
let lastStats = null;
let prevCounters = null;

async function sampleStats() {
    try {
        const s = await api('GET', '/api/v1/stats');
        const now = Date.now();
        let rin = null;
        let rout = null;
        const p = prevCounters;
        if (p && s.uptime_seconds > p.up && s.messages_received >= p.rx && s.messages_sent >= p.tx) {
            const dt = s.uptime_seconds - p.up;
            rin = (s.messages_received - p.rx) / dt;
            rout = (s.messages_sent - p.tx) / dt;
        }
        prevCounters = { up: s.uptime_seconds, rx: s.messages_received, tx: s.messages_sent };
        samples.t.push(now);
        samples.conns.push(s.connections);
        samples.rin.push(rin);
        samples.rout.push(rout);
        for (const k of Object.keys(samples)) {
            if (samples[k].length > WINDOW_POINTS) samples[k].splice(0, samples[k].length - WINDOW_POINTS);
        }
        lastStats = s;
        if (route.page === 'overview') renderOverview();
    } catch (e) {
        if (!(e instanceof HttpError && e.status === 401) && route.page === 'overview') {
            $('#ov-window').textContent = 'Could not read the statistics: ' + errText(e);
        }
    }
}

const statsPoller = new Poller(sampleStats);

// ------------------------------------------------------------ overview

function renderOverview() {
    const s = lastStats;
    if (s) {
        $('#st-connections').textContent = fmtInt(s.connections);
        $('#st-sessions').textContent = fmtInt(s.sessions);
        $('#st-retained').textContent = fmtInt(s.retained);
        $('#st-dropped').textContent = fmtInt(s.messages_dropped);
        $('#st-bytes').textContent = fmtBytes(s.bytes_received) + ' / ' + fmtBytes(s.bytes_sent);
        $('#st-uptime').textContent = fmtDuration(s.uptime_seconds);
        $('#ov-version').textContent = s.version ? 'moat ' + s.version : '';
        const n = samples.t.length;
        $('#st-rate-in').textContent = fmtRate(samples.rin[n - 1]);
        $('#st-rate-out').textContent = fmtRate(samples.rout[n - 1]);
        $('#ov-window').textContent = 'Sampled every 2 seconds, the last 5 minutes.';
    }
    const conns = $('#chart-conns');
    drawChart(conns, samples.t, [{ values: samples.conns, color: '--series-1', fill: true }], {
        minMax: 4,
        integer: true,
    });
    const rates = $('#chart-rates');
    drawChart(rates, samples.t, [
        { values: samples.rin, color: '--series-2' },
        { values: samples.rout, color: '--series-3', dash: true },
    ]);
    const last = (a) => a.filter((v) => v !== null).slice(-1)[0];
    const peak = (a) => Math.max(0, ...a.filter((v) => v !== null));
    if (samples.t.length) {
        conns.setAttribute(
            'aria-label',
            `Connections over the last ${samples.t.length} samples: now ${fmtInt(last(samples.conns))}, ` +
                `peak ${fmtInt(peak(samples.conns))}`,
        );
        rates.setAttribute(
            'aria-label',
            `Messages per second: received now ${fmtRate(last(samples.rin))} (peak ${fmtRate(peak(samples.rin))}), ` +
                `sent now ${fmtRate(last(samples.rout))} (peak ${fmtRate(peak(samples.rout))})`,
        );
    }
}

// ------------------------------------------------------------ listeners

async function loadListeners() {
    try {
        const r = await api('GET', '/api/v1/listeners');
        if (route.page !== 'listeners') return;
        renderListeners(r.data || []);
        $('#listeners-updated').textContent = 'Updated ' + fmtTime(new Date());
    } catch (e) {
        $('#listeners-updated').textContent = 'Could not update: ' + errText(e);
    }
}

const listenersPoller = new Poller(loadListeners);

function renderListeners(list) {
    const tbody = $('#listeners-table tbody');
    const rows = list.map((l) => {
        const max = l.max_connections;
        const cur = l.current_connections;
        const bar = el('span', { class: 'bar', 'aria-hidden': 'true' }, el('span'));
        if (max > 0) bar.firstChild.style.width = Math.min(100, (100 * cur) / max).toFixed(1) + '%';
        let tls = el('span', { class: 'muted' }, '—');
        if (l.tls) {
            tls = el(
                'span',
                { class: 'tls-cell' },
                el('span', { class: 'badge' }, l.tls.verify || 'tls'),
                ' ',
                daysBadge(l.tls.days_left),
            );
            if (l.tls.subject) tls.title = `${l.tls.subject}\nissued by ${l.tls.issuer || '?'}\nuntil ${l.tls.not_after || '?'}`;
        }
        return el(
            'tr',
            { dataset: { id: l.id } },
            el('th', { scope: 'row' }, l.name, l.path ? el('span', { class: 'muted' }, ' ' + l.path) : null),
            el('td', {}, el('span', { class: 'badge type-' + l.type }, l.type)),
            el('td', { class: 'mono' }, l.bind),
            el(
                'td',
                {},
                el('span', { class: 'status ' + (l.running ? 'up' : 'down') }, l.running ? 'running' : 'stopped'),
                l.proxy_protocol ? el('span', { class: 'badge' }, 'proxy') : null,
            ),
            el('td', { class: 'num conns' }, el('span', { class: 'count' }, fmtInt(cur)), bar),
            el('td', { class: 'num' }, fmtInt(max)),
            el('td', {}, tls),
        );
    });
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'No listeners.')));
}

// ------------------------------------------------------------ clients

function clientQuery() {
    const q = route.query;
    const limit = Number(q.get('limit')) || 20;
    return {
        clientid: q.get('clientid') || '',
        username: q.get('username') || '',
        listener: q.get('listener') || '',
        page: Math.max(1, Number(q.get('page')) || 1),
        limit: [10, 20, 50, 100].includes(limit) ? limit : 20,
    };
}

function setClientQuery(q) {
    const p = new URLSearchParams();
    for (const k of ['clientid', 'username', 'listener']) if (q[k]) p.set(k, q[k]);
    if (q.page > 1) p.set('page', String(q.page));
    if (q.limit !== 20) p.set('limit', String(q.limit));
    const s = p.toString();
    const hash = '#/clients' + (s ? '?' + s : '');
    if (location.hash === hash) loadClients();
    else location.hash = hash;
}

let listenerOptionsLoaded = false;

async function fillListenerOptions() {
    if (listenerOptionsLoaded) return;
    try {
        const r = await api('GET', '/api/v1/listeners');
        const sel = $('#cs-listener');
        const keep = clientQuery().listener;
        for (const l of r.data || []) {
            if (l.type === 'http' || l.type === 'https') continue; // the dashboard's own
            sel.append(el('option', { value: l.id }, l.id));
        }
        sel.value = keep;
        listenerOptionsLoaded = true;
    } catch {
        // the filter still works without the list
    }
}

let clientsSeq = 0;

async function loadClients() {
    const q = clientQuery();
    const form = $('#clients-search');
    form.clientid.value = q.clientid;
    form.username.value = q.username;
    form.limit.value = String(q.limit);
    if (form.listener.querySelector(`option[value="${CSS.escape(q.listener)}"]`)) form.listener.value = q.listener;
    const params = new URLSearchParams({ page: String(q.page), limit: String(q.limit) });
    for (const k of ['clientid', 'username', 'listener']) if (q[k]) params.set(k, q[k]);
    const seq = ++clientsSeq;
    const tbody = $('#clients-table tbody');
    tbody.setAttribute('aria-busy', 'true');
    let r;
    try {
        r = await api('GET', '/api/v1/clients?' + params.toString());
    } catch (e) {
        if (seq !== clientsSeq) return;
        tbody.removeAttribute('aria-busy');
        tbody.replaceChildren(el('tr', {}, el('td', { colspan: 11, class: 'empty' }, 'Could not list the clients: ' + errText(e))));
        return;
    }
    if (seq !== clientsSeq) return; // a newer search answered first
    tbody.removeAttribute('aria-busy');
    const meta = r.meta || { page: q.page, limit: q.limit, count: (r.data || []).length };
    const pages = Math.max(1, Math.ceil(meta.count / meta.limit));
    if (q.page > pages && meta.count > 0) {
        setClientQuery({ ...q, page: pages });
        return;
    }
    renderClients(r.data || [], q);
    const info = $('#clients-pageinfo');
    info.textContent = `Page ${meta.page} of ${pages} · ${fmtInt(meta.count)} client${meta.count === 1 ? '' : 's'}`;
    info.dataset.count = String(meta.count);
    $('#clients-prev').disabled = q.page <= 1;
    $('#clients-next').disabled = q.page >= pages;
}

// "17:17:22" today, "23 Nov 17:17" before; the full date in the title.
function connectedCell(epochSeconds) {
    if (typeof epochSeconds !== 'number') return el('td', {}, '–');
    const d = new Date(epochSeconds * 1000);
    const today = d.toDateString() === new Date().toDateString();
    const short = today
        ? fmtTime(d)
        : d.toLocaleString('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false });
    return el('td', { class: 'nowrap', title: fmtDateTime(epochSeconds) }, short);
}

function renderClients(list, q) {
    const tbody = $('#clients-table tbody');
    const none = () => el('span', { class: 'muted' }, '—');
    const rows = list.map((c) =>
        el(
            'tr',
            { dataset: { clientid: c.clientid } },
            el('th', { scope: 'row', class: 'mono clientid' }, c.clientid),
            el('td', {}, c.username === null || c.username === undefined ? none() : c.username),
            el('td', { class: 'nowrap' }, c.listener),
            el('td', { class: 'mono small' }, c.peer),
            el('td', {}, PROTO[c.proto_ver] || String(c.proto_ver)),
            el('td', { class: 'num' }, fmtInt(c.subscriptions)),
            el('td', { class: 'num nowrap' }, `${fmtInt(c.queued)} / ${fmtInt(c.inflight)}`),
            el('td', { class: 'num' }, c.keepalive ? c.keepalive + ' s' : none()),
            connectedCell(c.connected_at),
            c.tls ? el('td', { class: 'small nowrap', title: c.tls }, c.tls.split(' ')[0]) : el('td', {}, none()),
            el(
                'td',
                {},
                el(
                    'button',
                    {
                        type: 'button',
                        class: 'danger small kick',
                        'aria-label': 'Kick client ' + c.clientid,
                        onclick: () => kickClient(c.clientid),
                    },
                    'Kick',
                ),
            ),
        ),
    );
    tbody.replaceChildren(...rows);
    if (!rows.length) {
        const filtered = q.clientid || q.username || q.listener;
        tbody.append(
            el('tr', {}, el('td', { colspan: 11, class: 'empty' }, filtered ? 'No connected client matches.' : 'No client is connected.')),
        );
    }
}

async function kickClient(id) {
    const ok = await confirmDialog(
        'Kick this client?',
        `The broker will disconnect “${id}” (MQTT 5 clients are told: administrative action). It may reconnect.`,
        'Kick',
    );
    if (!ok) return;
    try {
        await api('DELETE', '/api/v1/clients/' + encodeURIComponent(id));
        flash(`Client “${id}” was disconnected.`);
        const row = $$('#clients-table tbody tr').find((tr) => tr.dataset.clientid === id);
        if (row) row.remove();
    } catch (e) {
        if (e instanceof HttpError && e.status === 404) flash(`“${id}” is no longer connected.`, 'warn');
        else flash('Could not kick the client: ' + errText(e), 'error');
    }
    // the disconnect happens on the client's own thread: list again a moment later
    setTimeout(() => route.page === 'clients' && loadClients(), 500);
}

// ------------------------------------------------------------ paged lists
//
// The subscriptions and retained pages: a search form, a table and a pager
// over a GET route answering {data, meta: {page, limit, count}}.

class PagedList {
    constructor({ path, table, info, prev, next, cols, noun, row, empty }) {
        Object.assign(this, { path, table, info, prev, next, cols, noun, row, empty });
        this.params = {};
        this.page = 1;
        this.limit = 20;
        this.seq = 0;
        $(prev).addEventListener('click', () => this.load(this.page - 1));
        $(next).addEventListener('click', () => this.load(this.page + 1));
    }

    search(params) {
        this.params = params;
        return this.load(1);
    }

    async load(page = this.page) {
        this.page = Math.max(1, page);
        const q = new URLSearchParams({ page: String(this.page), limit: String(this.limit) });
        for (const [k, v] of Object.entries(this.params)) if (v) q.set(k, v);
        const seq = ++this.seq;
        const tbody = $(this.table + ' tbody');
        tbody.setAttribute('aria-busy', 'true');
        let r;
        try {
            r = await api('GET', this.path + '?' + q.toString());
        } catch (e) {
            if (seq !== this.seq) return;
            tbody.removeAttribute('aria-busy');
            tbody.replaceChildren(
                el('tr', {}, el('td', { colspan: this.cols, class: 'empty' }, `Could not list the ${this.noun}s: ` + errText(e))),
            );
            return;
        }
        if (seq !== this.seq) return;
        tbody.removeAttribute('aria-busy');
        const meta = r.meta || { page: this.page, limit: this.limit, count: (r.data || []).length };
        const pages = Math.max(1, Math.ceil(meta.count / meta.limit));
        if (this.page > pages && meta.count > 0) {
            this.load(pages);
            return;
        }
        const rows = (r.data || []).map((x) => this.row(x));
        tbody.replaceChildren(...rows);
        if (!rows.length) {
            const filtered = Object.values(this.params).some(Boolean);
            tbody.append(el('tr', {}, el('td', { colspan: this.cols, class: 'empty' }, this.empty(filtered))));
        }
        const info = $(this.info);
        info.textContent = `Page ${meta.page} of ${pages} · ${fmtInt(meta.count)} ${this.noun}${meta.count === 1 ? '' : 's'}`;
        info.dataset.count = String(meta.count);
        $(this.prev).disabled = this.page <= 1;
        $(this.next).disabled = this.page >= pages;
    }
}

const none = () => el('span', { class: 'muted' }, '—');

// ------------------------------------------------------------ subscriptions

let subsList = null;

function subscriptionRow(s) {
    const opts = [];
    if (s.no_local) opts.push('no local');
    if (s.retain_as_published) opts.push('retain as published');
    if (s.retain_handling) opts.push('retain handling ' + s.retain_handling);
    return el(
        'tr',
        { dataset: { clientid: s.clientid, filter: s.filter || s.topic } },
        el('th', { scope: 'row', class: 'mono clientid' }, el('a', { href: '#/clients?clientid=' + encodeURIComponent(s.clientid) }, s.clientid)),
        el('td', { class: 'mono topic' }, s.topic),
        el('td', {}, s.share_group ? el('span', { class: 'badge' }, s.share_group) : none()),
        el('td', { class: 'num' }, String(s.qos)),
        el('td', { class: 'small' }, opts.length ? opts.join(', ') : none()),
        el('td', { class: 'num' }, s.subscription_identifier ? String(s.subscription_identifier) : none()),
        el('td', {}, el('span', { class: 'status ' + (s.online ? 'up' : 'down') }, s.online ? 'online' : 'offline')),
    );
}

function setupSubscriptions() {
    subsList = new PagedList({
        path: '/api/v1/subscriptions',
        table: '#subs-table',
        info: '#subs-pageinfo',
        prev: '#subs-prev',
        next: '#subs-next',
        cols: 7,
        noun: 'subscription',
        row: subscriptionRow,
        empty: (filtered) => (filtered ? 'No subscription matches.' : 'No session has a subscription.'),
    });
    $('#subs-search').addEventListener('submit', (ev) => {
        ev.preventDefault();
        const f = ev.target;
        subsList.search({ clientid: f.clientid.value.trim(), topic: f.topic.value.trim() });
    });
    $('#subs-refresh').addEventListener('click', () => subsList.load());
}

// ------------------------------------------------------------ retained

let retList = null;

// The preview as text when it is printable UTF-8, else as hex bytes.
function payloadPreview(b64, size, truncated) {
    let bytes;
    try {
        bytes = Uint8Array.from(atob(b64 || ''), (c) => c.charCodeAt(0));
    } catch {
        return el('span', { class: 'muted' }, '?');
    }
    let text = null;
    try {
        text = new TextDecoder('utf-8', { fatal: !truncated }).decode(bytes);
        if (/[\u0000-\u0008\u000e-\u001f\u007f\ufffd]/.test(text)) text = null;
    } catch {
        text = null;
    }
    const more = truncated ? ` … (${fmtBytes(size)})` : '';
    if (text !== null) return el('span', { class: 'mono small payload' }, (text.length > 200 ? text.slice(0, 200) + '…' : text) + more);
    const hex = Array.from(bytes.slice(0, 64), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return el('span', { class: 'mono small payload', title: 'binary, shown in hex' }, hex + (bytes.length > 64 || truncated ? ' …' : ''));
}

function retainedRow(m) {
    return el(
        'tr',
        { dataset: { topic: m.topic } },
        el('th', { scope: 'row', class: 'mono topic' }, m.topic),
        el('td', { class: 'num' }, String(m.qos)),
        el('td', { class: 'num nowrap' }, fmtBytes(m.payload_size)),
        el('td', {}, payloadPreview(m.payload_preview, m.payload_size, m.truncated)),
        el(
            'td',
            {},
            el(
                'button',
                {
                    type: 'button',
                    class: 'danger small delete',
                    'aria-label': 'Delete the retained message on ' + m.topic,
                    onclick: () => deleteRetained(m.topic),
                },
                'Delete',
            ),
        ),
    );
}

async function deleteRetained(topic) {
    const ok = await confirmDialog(
        'Delete this retained message?',
        `New subscribers to “${topic}” will no longer receive it.`,
        'Delete',
    );
    if (!ok) return;
    try {
        await api('DELETE', '/api/v1/retained/' + encodeURIComponent(topic));
        flash(`The retained message on “${topic}” was deleted.`);
    } catch (e) {
        if (e instanceof HttpError && e.status === 404) flash(`There is no retained message on “${topic}” any more.`, 'warn');
        else flash('Could not delete the retained message: ' + errText(e), 'error');
    }
    retList.load();
}

function setupRetained() {
    retList = new PagedList({
        path: '/api/v1/retained',
        table: '#ret-table',
        info: '#ret-pageinfo',
        prev: '#ret-prev',
        next: '#ret-next',
        cols: 5,
        noun: 'retained message',
        row: retainedRow,
        empty: (filtered) => (filtered ? 'No retained message matches.' : 'No retained message is stored.'),
    });
    $('#ret-search').addEventListener('submit', (ev) => {
        ev.preventDefault();
        retList.search({ topic: ev.target.topic.value.trim() });
    });
    $('#ret-refresh').addEventListener('click', () => retList.load());
}

// ------------------------------------------------------------ settings: API keys

async function loadKeys() {
    const tbody = $('#keys-table tbody');
    let r;
    try {
        r = await api('GET', '/api/v1/api_keys');
    } catch (e) {
        tbody.replaceChildren(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'Could not list the API keys: ' + errText(e))));
        return;
    }
    const rows = (r.data || []).map((k) =>
        el(
            'tr',
            { dataset: { id: k.id } },
            el('th', { scope: 'row' }, k.name),
            el('td', { class: 'mono' }, k.id),
            el('td', { class: 'nowrap' }, fmtDateTime(k.created_at)),
            el(
                'td',
                {},
                el(
                    'button',
                    { type: 'button', class: 'danger small delete', 'aria-label': 'Delete the API key ' + k.name, onclick: () => deleteKey(k) },
                    'Delete',
                ),
            ),
        ),
    );
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No API key yet.')));
}

async function createKey(ev) {
    ev.preventDefault();
    const form = ev.target;
    const err = $('#key-error');
    err.hidden = true;
    const name = form.name.value.trim();
    if (!name) {
        err.textContent = 'Give the key a name (what uses it).';
        err.hidden = false;
        form.name.focus();
        return;
    }
    try {
        const k = await api('POST', '/api/v1/api_keys', { name });
        form.reset();
        $('#key-new-id').textContent = k.id;
        $('#key-new-secret').textContent = k.secret;
        $('#key-new').hidden = false;
    } catch (e) {
        err.textContent = 'Could not create the key: ' + errText(e);
        err.hidden = false;
    }
    loadKeys();
}

async function deleteKey(k) {
    const ok = await confirmDialog('Delete this API key?', `Scripts using “${k.name}” (${k.id}) will be refused.`, 'Delete');
    if (!ok) return;
    try {
        await api('DELETE', '/api/v1/api_keys/' + encodeURIComponent(k.id));
        flash(`The API key “${k.name}” was deleted.`);
    } catch (e) {
        flash('Could not delete the API key: ' + errText(e), 'error');
    }
    loadKeys();
}

function enterSettings() {
    $('#key-new').hidden = true; // the secret is shown once, on the page that made it
    $('#key-new-secret').textContent = '';
    loadKeys();
}

// ------------------------------------------------------------ certificates
//
// Expected API (the page also copes with a broker that has none yet: 404):
//   GET /api/v1/certificates -> {"data": [{
//       "listener": "ssl:mqtts", "name", "type", "bind",
//       "mode": "one-way" | "two-way" | "optional",
//       "chain": [{"subject", "issuer", "not_before", "not_after", "days_left",
//                  "fingerprint" (SHA-256), "serial", "key", "dns": [..],
//                  "is_ca", "self_signed"}, ...],     (leaf first)
//       "client_ca": [ same objects ]  (optional)
//   }]}
//   POST /api/v1/certificates/{listener} {certificate, chain, private_key,
//       key_password?, client_ca?, mode} -> 200, or 400/422
//       {"code", "message", "field"?} (field: one of the names above)
//   DELETE /api/v1/certificates/{listener} -> 200/204
// {listener} is the listener id, URL-encoded ("ssl%3Amqtts").

const UPLOAD_FIELDS = ['certificate', 'chain', 'private_key', 'key_password', 'mode', 'client_ca'];
let certSeq = 0;

async function loadCertificates() {
    const seq = ++certSeq;
    const list = $('#certs-list');
    const notice = $('#certs-notice');
    list.setAttribute('aria-busy', 'true');
    let certs = null;
    let unavailable = false;
    try {
        const r = await api('GET', '/api/v1/certificates');
        certs = Array.isArray(r) ? r : r.data || [];
    } catch (e) {
        if (!(e instanceof HttpError && e.status === 404)) {
            if (seq !== certSeq) return;
            list.removeAttribute('aria-busy');
            notice.hidden = false;
            notice.dataset.kind = 'error';
            delete notice.dataset.state;
            notice.textContent = 'Could not read the certificates: ' + errText(e);
            list.replaceChildren();
            return;
        }
        unavailable = true;
    }
    let listeners = [];
    try {
        listeners = ((await api('GET', '/api/v1/listeners')).data || []).filter((l) => l.tls);
    } catch {
        // only the fallback view needs them
    }
    if (seq !== certSeq || route.page !== 'certificates') return;
    list.removeAttribute('aria-busy');
    if (unavailable) {
        notice.hidden = false;
        notice.dataset.kind = 'info';
        notice.dataset.state = 'unavailable';
        notice.replaceChildren(
            el('strong', {}, 'Certificate management is not available in this version of moat. '),
            'The broker has no certificates API (GET /api/v1/certificates answered 404), so certificates ' +
                'cannot be uploaded here: change the files named in the configuration and reload (SIGHUP). ' +
                'The server certificate each TLS listener uses now:',
        );
        certs = listeners.map((l) => ({
            listener: l.id,
            name: l.name,
            type: l.type,
            bind: l.bind,
            mode: l.tls.verify,
            readOnly: true,
            chain: [{ subject: l.tls.subject, issuer: l.tls.issuer, not_after: l.tls.not_after, days_left: l.tls.days_left }],
        }));
    } else {
        notice.hidden = true;
        delete notice.dataset.state;
        const byId = new Map(listeners.map((l) => [l.id, l]));
        certs = certs.map((c) => {
            const id = c.listener || c.id;
            const l = byId.get(id) || {};
            return { ...c, listener: id, name: c.name || l.name, type: c.type || l.type, bind: c.bind || l.bind };
        });
    }
    list.replaceChildren(...certs.map((c, i) => certListener(c, i)));
    if (!certs.length) list.append(el('p', { class: 'empty-state' }, 'No TLS listener is configured.'));
}

function certListener(c, index) {
    const node = $('#tpl-cert-listener').content.firstElementChild.cloneNode(true);
    node.dataset.listener = c.listener;
    $('.cert-title', node).textContent = c.listener;
    $('.cert-meta', node).textContent = [c.type, c.bind].filter(Boolean).join(' · ');
    const mode = c.mode || c.verify;
    const modeEl = $('.cert-mode', node);
    if (mode) modeEl.textContent = mode;
    else modeEl.remove();

    const chain = $('.chain', node);
    const certsOf = c.chain || c.certificates || [];
    certsOf.forEach((cert, i) => {
        if (i) chain.append(el('li', { class: 'arrow', 'aria-hidden': 'true' }, 'issued by'));
        chain.append(certBox(cert, i === 0 ? 'Server certificate' : cert.self_signed ? 'Root CA' : 'Intermediate CA'));
    });
    // the issuer of the last certificate, when it is not in the chain sent
    const last = certsOf[certsOf.length - 1];
    if (last && last.issuer && last.issuer !== last.subject && !last.self_signed) {
        chain.append(el('li', { class: 'arrow', 'aria-hidden': 'true' }, 'issued by'));
        chain.append(
            el(
                'li',
                { class: 'cert outside' },
                el('span', { class: 'cert-role' }, 'Issuer (not sent)'),
                el('strong', { class: 'cert-cn' }, commonName(last.issuer)),
                el('span', { class: 'dn small' }, last.issuer),
                el('span', { class: 'muted small' }, 'Clients must already trust this CA.'),
            ),
        );
    }
    if (Array.isArray(c.client_ca) && c.client_ca.length) {
        const ca = el('div', { class: 'client-ca' }, el('h3', {}, 'Client CA'));
        const ol = el('ol', { class: 'chain' });
        c.client_ca.forEach((cert) => ol.append(certBox(cert, 'Client CA')));
        ca.append(ol);
        $('.cert-actions', node).before(ca);
    }

    const upload = $('details.upload', node);
    if (c.readOnly) {
        upload.remove();
        $('.cert-actions', node).remove();
        return node;
    }
    if (c.source === 'uploaded' || c.uploaded) {
        $('.cert-actions', node).append(
            el('span', { class: 'muted small' }, 'Uploaded through the dashboard. '),
            el('button', { type: 'button', class: 'danger small', onclick: () => deleteUpload(c.listener) }, 'Remove the upload'),
        );
    }
    setupUploadForm($('form', node), c, index);
    return node;
}

function certBox(cert, role) {
    const fp = cert.fingerprint || cert.sha256;
    const sans = [].concat(cert.dns || [], cert.ip || []);
    return el(
        'li',
        { class: 'cert' },
        el('span', { class: 'cert-role' }, role + (cert.self_signed && role !== 'Root CA' ? ' · self-signed' : '')),
        el('strong', { class: 'cert-cn' }, commonName(cert.subject) || '(no subject)'),
        el('span', { class: 'dn small', title: 'Subject' }, cert.subject || ''),
        el('span', { class: 'small' }, el('span', { class: 'muted' }, 'Issuer: '), cert.issuer || '?'),
        sans.length ? el('span', { class: 'small' }, el('span', { class: 'muted' }, 'Names: '), sans.join(', ')) : null,
        el(
            'span',
            { class: 'small' },
            el('span', { class: 'muted' }, 'Expires: '),
            cert.not_after ? String(cert.not_after) : '?',
            ' ',
            daysBadge(cert.days_left),
        ),
        cert.key ? el('span', { class: 'small' }, el('span', { class: 'muted' }, 'Key: '), cert.key) : null,
        fp
            ? el('span', { class: 'small fp', title: 'SHA-256 fingerprint: ' + fp }, el('span', { class: 'muted' }, 'SHA-256: '), fp)
            : null,
    );
}

// Ids for the template's fields, labels tied to them, errors described by.
function setupUploadForm(form, c, index) {
    const prefix = 'up' + index;
    for (const box of $$('[data-field]', form)) {
        const name = box.dataset.field;
        const err = $('.field-error', box);
        err.id = `${prefix}-${name}-error`;
        const hint = $('.hint', box);
        if (hint) hint.id = `${prefix}-${name}-hint`;
        const input = $(`[name="${name}"]`, box);
        if (name !== 'mode') {
            input.id = `${prefix}-${name}`;
            $('label', box).htmlFor = input.id;
            input.setAttribute('aria-describedby', [hint && hint.id, err.id].filter(Boolean).join(' '));
        } else {
            box.setAttribute('aria-describedby', err.id);
        }
        const file = $('input[type=file]', box);
        if (file) {
            file.addEventListener('change', async () => {
                if (!file.files.length) return;
                input.value = await file.files[0].text();
                file.value = '';
                clearFieldError(form, name);
            });
        }
    }
    if (c.mode === 'two-way') form.mode.value = 'two-way';
    form.addEventListener('input', (ev) => ev.target.name && clearFieldError(form, ev.target.name));
    form.addEventListener('reset', () => clearErrors(form));
    form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        uploadCertificate(form, c.listener);
    });
}

function fieldBox(form, name) {
    return form.querySelector(`[data-field="${name}"]`);
}

function showFieldError(form, name, message) {
    const box = fieldBox(form, name);
    if (!box) return false;
    const err = $('.field-error', box);
    err.textContent = message;
    err.hidden = false;
    box.classList.add('invalid');
    const input = name === 'mode' ? box : $(`[name="${name}"]`, box);
    input.setAttribute('aria-invalid', 'true');
    return true;
}

function clearFieldError(form, name) {
    const box = fieldBox(form, name);
    if (!box) return;
    $('.field-error', box).hidden = true;
    box.classList.remove('invalid');
    (name === 'mode' ? box : $(`[name="${name}"]`, box)).removeAttribute('aria-invalid');
}

function clearErrors(form) {
    UPLOAD_FIELDS.forEach((f) => clearFieldError(form, f));
    $('.form-error', form).hidden = true;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]+?-----END \1-----/;

// The checks the browser can make; the broker makes the real ones.
function validateUpload(v) {
    const errs = {};
    if (!v.certificate.trim()) errs.certificate = 'Paste the certificate (PEM).';
    else if (!PEM_CERT.test(v.certificate)) errs.certificate = 'This is not a PEM certificate (-----BEGIN CERTIFICATE-----).';
    if (v.chain.trim() && !PEM_CERT.test(v.chain)) errs.chain = 'The chain must be PEM certificates (-----BEGIN CERTIFICATE-----).';
    const key = PEM_KEY.exec(v.private_key);
    if (!v.private_key.trim()) errs.private_key = 'Paste the private key (PEM).';
    else if (!key) errs.private_key = 'This is not a PEM private key (-----BEGIN PRIVATE KEY-----).';
    else if (/ENCRYPTED/.test(v.private_key) && !v.key_password) errs.key_password = 'This key is encrypted: enter its password.';
    if (v.mode === 'two-way' && !v.client_ca.trim()) errs.client_ca = 'Two-way TLS needs the CA that signs client certificates.';
    else if (v.client_ca.trim() && !PEM_CERT.test(v.client_ca)) errs.client_ca = 'The client CA must be PEM certificates (-----BEGIN CERTIFICATE-----).';
    return errs;
}

async function uploadCertificate(form, listener) {
    clearErrors(form);
    const v = {
        certificate: form.certificate.value,
        chain: form.chain.value,
        private_key: form.private_key.value,
        key_password: form.key_password.value,
        client_ca: form.client_ca.value,
        mode: form.mode.value,
    };
    const errs = validateUpload(v);
    const names = Object.keys(errs);
    if (names.length) {
        names.forEach((n) => showFieldError(form, n, errs[n]));
        focusField(form, names[0]);
        return;
    }
    const body = { certificate: v.certificate, chain: v.chain, private_key: v.private_key, mode: v.mode };
    if (v.key_password) body.key_password = v.key_password;
    if (v.client_ca.trim()) body.client_ca = v.client_ca;
    const submit = $('button[type=submit]', form);
    submit.disabled = true;
    try {
        await api('POST', '/api/v1/certificates/' + encodeURIComponent(listener), body);
        form.reset();
        flash(`The new certificate of ${listener} is in use.`);
        loadCertificates();
    } catch (e) {
        const b = e instanceof HttpError ? e.body : {};
        if (b.field && showFieldError(form, b.field, b.message || 'Refused.')) {
            focusField(form, b.field);
        } else {
            const fe = $('.form-error', form);
            fe.textContent =
                e instanceof HttpError && e.status === 404
                    ? 'This version of moat cannot change certificates (404).'
                    : 'The broker refused the upload: ' + errText(e);
            fe.hidden = false;
        }
    } finally {
        submit.disabled = false;
    }
}

function focusField(form, name) {
    const box = fieldBox(form, name);
    const input = box && (name === 'mode' ? $('input', box) : $(`[name="${name}"]`, box));
    if (input) input.focus();
}

async function deleteUpload(listener) {
    const ok = await confirmDialog(
        'Remove the uploaded certificate?',
        `${listener} goes back to the certificate files named in the configuration.`,
        'Remove',
    );
    if (!ok) return;
    try {
        await api('DELETE', '/api/v1/certificates/' + encodeURIComponent(listener));
        flash(`${listener} uses its configured certificate again.`);
    } catch (e) {
        flash('Could not remove the certificate: ' + errText(e), 'error');
    }
    loadCertificates();
}

// ------------------------------------------------------------ routing

const PAGES = {
    overview: { enter: renderOverview },
    listeners: { enter: () => listenersPoller.start(), leave: () => listenersPoller.stop() },
    clients: {
        enter: () => {
            fillListenerOptions().then(() => loadClients());
        },
        update: loadClients,
    },
    subscriptions: { enter: () => subsList.load() },
    retained: { enter: () => retList.load() },
    certificates: { enter: loadCertificates },
    settings: { enter: enterSettings },
};

const route = { page: null, query: new URLSearchParams() };

function parseHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const [path, q] = h.split('?');
    return { page: PAGES[path] ? path : 'overview', query: new URLSearchParams(q || '') };
}

function onRoute() {
    if (!loggedIn) return;
    const next = parseHash();
    if (!PAGES[location.hash.replace(/^#\/?/, '').split('?')[0]]) {
        history.replaceState(null, '', '#/' + next.page);
    }
    const prev = route.page;
    route.query = next.query;
    if (prev === next.page) {
        const u = PAGES[next.page].update;
        if (u) u();
        return;
    }
    if (prev && PAGES[prev].leave) PAGES[prev].leave();
    if (prev) $('#flash').hidden = true;
    route.page = next.page;
    for (const s of $$('[data-page]')) s.hidden = s.dataset.page !== next.page;
    for (const a of $$('.nav a')) {
        if (a.dataset.route === next.page) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
    document.title = `${$(`[data-page="${next.page}"] h1`).textContent} · moat dashboard`;
    if (prev) $(`[data-page="${next.page}"] h1`).focus();
    if (PAGES[next.page].enter) PAGES[next.page].enter();
}

// ------------------------------------------------------------ session

let loggedIn = false;

function showApp(username) {
    loggedIn = true;
    if (username) sessionStorage.setItem('moat.user', username);
    $('#whoami').textContent = sessionStorage.getItem('moat.user') || '';
    $('#boot').hidden = true;
    $('#login-view').hidden = true;
    $('#app-view').hidden = false;
    route.page = null;
    onRoute();
    statsPoller.start();
}

function showLogin(notice) {
    loggedIn = false;
    statsPoller.stop();
    if (route.page && PAGES[route.page].leave) PAGES[route.page].leave();
    route.page = null;
    $('#boot').hidden = true;
    $('#app-view').hidden = true;
    $('#login-view').hidden = false;
    const n = $('#login-notice');
    n.textContent = notice || '';
    n.hidden = !notice;
    $('#login-error').hidden = true;
    $('#login-pass').value = '';
    const user = $('#login-user');
    if (!user.value) user.value = sessionStorage.getItem('moat.user') || '';
    (user.value ? $('#login-pass') : user).focus();
}

onUnauthorized = () => {
    if (loggedIn) showLogin('Your session has ended. Log in again.');
};

async function login(ev) {
    ev.preventDefault();
    const form = ev.target;
    const err = $('#login-error');
    err.hidden = true;
    const username = form.username.value.trim();
    const password = form.password.value;
    if (!username || !password) {
        err.textContent = 'Enter your username and password.';
        err.hidden = false;
        (username ? form.password : form.username).focus();
        return;
    }
    const btn = $('#login-submit');
    btn.disabled = true;
    try {
        const r = await api('POST', '/api/v1/login', { username, password });
        form.password.value = '';
        // samples from a previous session would draw a gap across the chart
        for (const k of Object.keys(samples)) samples[k].length = 0;
        prevCounters = null;
        showApp(r.username || username);
    } catch (e) {
        if (e instanceof HttpError && e.status === 401) err.textContent = 'Wrong username or password.';
        else if (e instanceof HttpError && e.status === 429) err.textContent = 'Too many failed attempts from this address: wait a minute, then try again.';
        else err.textContent = errText(e);
        err.hidden = false;
        form.password.select();
    } finally {
        btn.disabled = false;
    }
}

async function logout() {
    try {
        await api('POST', '/api/v1/logout');
    } catch {
        // the cookie is gone or the broker is: logged out either way
    }
    sessionStorage.removeItem('moat.user');
    showLogin('You have logged out.');
}

// ------------------------------------------------------------ start

function start() {
    $('#login-form').addEventListener('submit', login);
    $('#logout').addEventListener('click', logout);
    $('#skip').addEventListener('click', (ev) => {
        ev.preventDefault(); // the hash is the route: focus instead of jumping
        const target = loggedIn ? $('#main') : $('#login-form');
        target.setAttribute('tabindex', '-1');
        target.focus();
    });
    window.addEventListener('hashchange', onRoute);

    $('#clients-search').addEventListener('submit', (ev) => {
        ev.preventDefault();
        const f = ev.target;
        setClientQuery({
            clientid: f.clientid.value.trim(),
            username: f.username.value.trim(),
            listener: f.listener.value,
            page: 1,
            limit: Number(f.limit.value),
        });
    });
    $('#cs-limit').addEventListener('change', () => $('#clients-search').requestSubmit());
    $('#cs-listener').addEventListener('change', () => $('#clients-search').requestSubmit());
    $('#clients-refresh').addEventListener('click', () => loadClients());
    setupSubscriptions();
    setupRetained();
    $('#key-form').addEventListener('submit', createKey);
    $('#clients-prev').addEventListener('click', () => setClientQuery({ ...clientQuery(), page: clientQuery().page - 1 }));
    $('#clients-next').addEventListener('click', () => setClientQuery({ ...clientQuery(), page: clientQuery().page + 1 }));

    let resizeTimer = 0;
    window.addEventListener('resize', () => {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(() => route.page === 'overview' && renderOverview(), 100);
    });

    // Is there a session already (the cookie)? The stats call answers that.
    api('GET', '/api/v1/stats').then(
        () => showApp(),
        (e) => showLogin(e instanceof HttpError && e.status === 401 ? '' : errText(e)),
    );
}

start();
