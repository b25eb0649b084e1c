#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// mqttjs_client.js: one MQTT.js client for moat's integration tests, driven
// from the command line and reporting on stdout, one JSON object per line.
//
//   node mqttjs_client.js --url ws://127.0.0.1:PORT/mqtt [options]
//
// Connection
//   --url URL                 mqtt://, mqtts://, ws:// or wss:// (with path)
//   --ca FILE --cert FILE --key FILE   PEM files for TLS (mqtts, wss)
//   --servername NAME         TLS SNI name (default: the URL's host, if a name)
//   --insecure                do not verify the server certificate
//   --protocol-version 3|4|5  MQTT 3.1, 3.1.1 (default) or 5
//   --client-id ID --username U --password P
//   --keepalive S             (default 60)  --no-clean   clean=false
//   --ws-protocol NAMES       Sec-WebSocket-Protocol to offer instead of MQTT.js's
//                             own ("mqtt"); comma-separated list; "" offers none
//   --ws-header 'Name: value' extra header on the WebSocket upgrade (repeatable)
// Work, in this order once connected
//   --sub TOPIC               subscribe (repeatable), at --qos
//   --pub TOPIC --message TEXT [--count N] [--retain]   publish N messages at
//                             --qos; "{n}" in TEXT becomes 1..N
//   --expect N                wait until N messages have arrived
//   --qos 0|1|2               (default 0)
//   --timeout MS              give up after MS (default 10000)
//
// Events: {"event":"connect","session_present":..,"reason_code":..,...},
// {"event":"subscribed","granted":[{"topic":..,"qos":..}]},
// {"event":"message","topic":..,"payload":..,"qos":..,"retain":..},
// {"event":"published","topic":..,"count":..}, {"event":"disconnect",
// "reason_code":..} (a v5 DISCONNECT from the server), {"event":"error",
// "message":..,"code":..}, {"event":"close"}, and last {"event":"done","ok":..}.
// Exit status 0 when everything asked for happened, 1 otherwise (2: bad
// usage), always within --timeout (plus a moment to print). No reconnects.
'use strict';

const fs = require('node:fs');
const { parseArgs } = require('node:util');
const mqtt = require('mqtt');
const WebSocket = require('ws');

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function usage(msg) {
    process.stderr.write('mqttjs_client: ' + msg + '\n');
    process.exit(2);
}

let args;
try {
    args = parseArgs({
        options: {
            url: { type: 'string' },
            ca: { type: 'string' },
            cert: { type: 'string' },
            key: { type: 'string' },
            servername: { type: 'string' },
            insecure: { type: 'boolean', default: false },
            'protocol-version': { type: 'string', default: '4' },
            'client-id': { type: 'string' },
            username: { type: 'string' },
            password: { type: 'string' },
            keepalive: { type: 'string', default: '60' },
            'no-clean': { type: 'boolean', default: false },
            sub: { type: 'string', multiple: true, default: [] },
            qos: { type: 'string', default: '0' },
            pub: { type: 'string' },
            message: { type: 'string', default: '' },
            count: { type: 'string', default: '1' },
            retain: { type: 'boolean', default: false },
            expect: { type: 'string', default: '0' },
            timeout: { type: 'string', default: '10000' },
            'ws-protocol': { type: 'string' },
            'ws-header': { type: 'string', multiple: true, default: [] },
        },
        strict: true,
        allowPositionals: false,
    }).values;
} catch (e) {
    usage(e.message);
}

function intArg(name, lo, hi) {
    const v = Number(args[name]);
    if (!Number.isInteger(v) || v < lo || v > hi) {
        usage(`--${name} must be an integer in ${lo}..${hi}, not ${JSON.stringify(args[name])}`);
    }
    return v;
}

if (!args.url) usage('--url is required');
const version = intArg('protocol-version', 3, 5);
const qos = intArg('qos', 0, 2);
const count = intArg('count', 0, 10000000);
const expect = intArg('expect', 0, 10000000);
const timeoutMs = intArg('timeout', 1, 3600000);
const keepalive = intArg('keepalive', 0, 65535);

const opts = {
    protocolVersion: version,
    clientId: args['client-id'] ?? 'mqttjs-' + process.pid + '-' + Date.now().toString(36),
    clean: !args['no-clean'],
    keepalive,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    rejectUnauthorized: !args.insecure,
    wsOptions: {},
};
if (version === 3) opts.protocolId = 'MQIsdp';
if (args.username !== undefined) opts.username = args.username;
if (args.password !== undefined) opts.password = args.password;
for (const name of ['ca', 'cert', 'key']) {
    if (args[name] !== undefined) {
        try {
            opts[name] = fs.readFileSync(args[name]);
        } catch (e) {
            usage(`--${name}: ${e.message}`);
        }
    }
}
if (args.servername !== undefined) {
    opts.servername = args.servername; // mqtts
    opts.wsOptions.servername = args.servername; // wss (ws passes it to tls.connect)
}
if (args['ws-header'].length) {
    opts.wsOptions.headers = {};
    for (const h of args['ws-header']) {
        const i = h.indexOf(':');
        if (i <= 0) usage(`--ws-header wants 'Name: value', not ${JSON.stringify(h)}`);
        opts.wsOptions.headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
}
if (args['ws-protocol'] !== undefined) {
    const offered = args['ws-protocol']
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    // MQTT.js always offers its own subprotocol; build the socket ourselves.
    opts.createWebsocket = (url, _protocols, o) => new WebSocket(url, offered, o.wsOptions);
}

// JSON-friendly copy of MQTT 5 properties (Buffers become strings).
function props(p) {
    if (!p || Object.keys(p).length === 0) return undefined;
    const out = {};
    for (const [k, v] of Object.entries(p)) {
        out[k] = Buffer.isBuffer(v) ? v.toString('utf8') : v;
    }
    return out;
}

let finished = false;
let connected = false;
let subscribed = args.sub.length === 0;
let published = !args.pub;
let received = 0;
let failure = null;

function finish(ok, why) {
    if (finished) return;
    finished = true;
    if (!ok && why) emit({ event: 'error', message: why });
    let exited = false;
    const exit = () => {
        if (exited) return;
        exited = true;
        emit({ event: 'done', ok, received });
        process.exit(ok ? 0 : 1);
    };
    // Leave cleanly (DISCONNECT) when connected; never wait long for it.
    setTimeout(exit, 1000).unref();
    if (client.connected) {
        client.end(false, {}, exit);
    } else {
        client.end(true, {}, exit);
    }
}

function maybeDone() {
    if (connected && subscribed && published && received >= expect && !failure) {
        finish(true);
    }
}

const timer = setTimeout(() => {
    const missing = [];
    if (!connected) missing.push('CONNACK');
    if (!subscribed) missing.push('SUBACK');
    if (!published) missing.push('publish acknowledgements');
    if (received < expect) missing.push(`messages (${received} of ${expect})`);
    finish(false, `timeout after ${timeoutMs} ms waiting for ${missing.join(', ')}`);
}, timeoutMs);
timer.unref();

let client;
try {
    client = mqtt.connect(args.url, opts);
} catch (e) {
    emit({ event: 'error', message: e.message });
    emit({ event: 'done', ok: false, received: 0 });
    process.exit(1);
}

client.on('connect', (connack) => {
    if (connected) return;
    connected = true;
    const ev = {
        event: 'connect',
        session_present: !!connack.sessionPresent,
        reason_code: version === 5 ? (connack.reasonCode ?? 0) : (connack.returnCode ?? 0),
    };
    const p = props(connack.properties);
    if (p) ev.properties = p;
    emit(ev);
    start();
});

client.on('message', (topic, payload, packet) => {
    if (finished) return;
    received += 1;
    const ev = {
        event: 'message',
        topic,
        payload: payload.toString('utf8'),
        qos: packet.qos,
        retain: !!packet.retain,
    };
    if (packet.dup) ev.dup = true;
    const p = props(packet.properties);
    if (p) ev.properties = p;
    emit(ev);
    maybeDone();
});

client.on('disconnect', (packet) => {
    emit({ event: 'disconnect', reason_code: packet.reasonCode ?? 0 });
});

client.on('error', (err) => {
    const ev = { event: 'error', message: err.message };
    if (err.code !== undefined) ev.code = err.code;
    emit(ev);
    if (!finished) {
        failure = err.message;
        finish(false);
    }
});

client.on('close', () => {
    emit({ event: 'close' });
    if (!finished) {
        finish(false, connected ? 'connection closed by the server' : 'closed before CONNACK');
    }
});

function start() {
    if (args.sub.length === 0) {
        publish();
        return;
    }
    client.subscribe(args.sub, { qos }, (err, granted) => {
        if (err) {
            failure = err.message;
            finish(false, 'subscribe failed: ' + err.message);
            return;
        }
        const list = (granted || []).map((g) => ({ topic: g.topic, qos: g.qos }));
        emit({ event: 'subscribed', granted: list });
        const bad = list.filter((g) => g.qos >= 0x80);
        if (bad.length) {
            failure = 'subscription refused';
            finish(false, 'subscription refused: ' + JSON.stringify(bad));
            return;
        }
        subscribed = true;
        publish();
    });
}

function publish() {
    if (!args.pub) {
        maybeDone();
        return;
    }
    let acked = 0;
    if (count === 0) {
        published = true;
        emit({ event: 'published', topic: args.pub, count: 0, qos });
        maybeDone();
        return;
    }
    for (let n = 1; n <= count; n++) {
        const text = args.message.split('{n}').join(String(n));
        client.publish(args.pub, text, { qos, retain: args.retain }, (err) => {
            if (finished) return;
            if (err) {
                failure = err.message;
                finish(false, 'publish failed: ' + err.message);
                return;
            }
            acked += 1;
            if (acked === count) {
                published = true;
                emit({ event: 'published', topic: args.pub, count, qos });
                maybeDone();
            }
        });
    }
}
