// SPDX-License-Identifier: Apache-2.0
//
// The test page's logic (see index.html for the query string). The status line
// reads "connecting", then "connected" once the SUBACK arrived (so a test may
// publish from then on), or "error: ..." (also when the connection closed
// before the CONNACK) / "closed" (after it). Every message becomes an
// <li class="msg"> whose text is the payload, with data-topic and data-qos.
'use strict';

(function () {
    const params = new URLSearchParams(window.location.search);
    const statusEl = document.getElementById('status');
    const listEl = document.getElementById('messages');
    const url = params.get('url');
    const topic = params.get('topic');

    document.getElementById('broker').textContent = url || '(none)';
    document.getElementById('topic').textContent = topic || '(none)';

    function setStatus(state, text) {
        statusEl.dataset.state = state;
        statusEl.textContent = text;
    }

    if (typeof mqtt === 'undefined') {
        setStatus('error', 'error: MQTT.js bundle did not load');
        return;
    }
    if (!url || !topic) {
        setStatus('error', 'error: url and topic are required in the query string');
        return;
    }

    const version = Number(params.get('v') || '4');
    const qos = Number(params.get('qos') || '0');
    const opts = {
        protocolVersion: version,
        clientId: params.get('client_id') || 'browser-' + Math.random().toString(16).slice(2, 10),
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 10000,
    };
    if (version === 3) opts.protocolId = 'MQIsdp';
    if (params.has('username')) opts.username = params.get('username');
    if (params.has('password')) opts.password = params.get('password');

    setStatus('connecting', 'connecting');
    let client;
    try {
        client = mqtt.connect(url, opts);
    } catch (e) {
        setStatus('error', 'error: ' + e.message);
        return;
    }
    window.moatClient = client;

    let gotConnack = false;
    client.on('connect', function () {
        gotConnack = true;
        client.subscribe(topic, { qos: qos }, function (err, granted) {
            if (err) {
                setStatus('error', 'error: subscribe failed: ' + err.message);
                return;
            }
            if (!granted || !granted.length || granted[0].qos >= 0x80) {
                setStatus('error', 'error: subscription refused');
                return;
            }
            setStatus('connected', 'connected');
            const pub = params.get('pub');
            if (pub) {
                client.publish(pub, params.get('message') || '', { qos: qos }, function (perr) {
                    const el = document.getElementById('published');
                    el.textContent = perr ? 'publish failed: ' + perr.message : 'published';
                    el.dataset.state = perr ? 'error' : 'ok';
                });
            }
        });
    });

    client.on('message', function (t, payload, packet) {
        const li = document.createElement('li');
        li.className = 'msg';
        li.dataset.topic = t;
        li.dataset.qos = String(packet.qos);
        li.textContent = new TextDecoder().decode(payload);
        listEl.appendChild(li);
    });

    client.on('error', function (err) {
        setStatus('error', 'error: ' + (err && err.message ? err.message : String(err)));
    });

    // A WebSocket that fails (refused upgrade, untrusted certificate) only
    // closes in MQTT.js: before the CONNACK that is an error too.
    client.on('close', function () {
        if (statusEl.dataset.state === 'error') return;
        if (gotConnack) setStatus('closed', 'closed');
        else setStatus('error', 'error: connection closed before CONNACK');
    });
})();
