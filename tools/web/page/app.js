// dlb dashboard: one page fed by /api/stream (Server-Sent Events) and
// steering the nodes through dlb-web's POST commands. No libraries.
'use strict';
const MAX_EVENTS = 10000;   // events kept in the page
const SHOWN_EVENTS = 400;   // events drawn (the newest that match the filters)
const MAX_SAMPLES = 720;    // chart history (6 min at 0.5 s)
const COLORS = ['#2456a6', '#c2410c', '#15803d', '#7c3aed', '#b91c1c', '#0e7490', '#a16207', '#be185d'];

const $ = (id) => document.getElementById(id);
const state = { tick: null, samples: [], events: [], nodes: new Map(), workloads: new Map(),
                kinds: new Set(), eventNodes: new Set(), colors: new Map(), dirtyEvents: true };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
const fmt = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v)) ? '-' : Number(v).toFixed(d);
function colorOf(name) {
  if (!state.colors.has(name)) state.colors.set(name, COLORS[state.colors.size % COLORS.length]);
  return state.colors.get(name);
}
function note(id, text, bad) { const n = $(id); n.textContent = text; n.classList.toggle('error', !!bad); }

async function post(path, fields) {
  const body = new URLSearchParams(fields).toString();
  try {
    const r = await fetch(path, { method: 'POST', body, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-DLB-CSRF': '1' } });
    return await r.json();
  } catch (e) { return { ok: false, error: 'dlb-web did not answer: ' + e }; }
}
function resultText(answer) {
  if (answer.error) return answer.error;
  return (answer.results || []).map((r) => r.node + ': ' + (r.ok ? 'done' : r.error)).join('; ');
}

// ---- nodes table -------------------------------------------------------
function nodeView(tick) {
  // Each node's own answer first, then the others' views of it.
  const view = new Map();
  for (const pass of [0, 1]) for (const s of tick.sources) {
    if (!s.status || !s.status.nodes) continue;
    for (const n of s.status.nodes) {
      if (pass === 0 && !(n.local && s.ok)) continue;
      if (!view.has(n.node)) view.set(n.node, { n, source: n.local ? s : null });
    }
  }
  for (const s of tick.sources) if (s.name && !view.has(s.name)) view.set(s.name, { n: null, source: s });
  return view;
}

function nodeRow(name) {
  const slider = el('input', { type: 'range', min: '0.05', max: '1', step: '0.05', class: 'throttle-slider', 'aria-label': 'throttle of ' + name });
  const value = el('span', { class: 'throttle-value' });
  slider.addEventListener('input', () => { value.textContent = Number(slider.value).toFixed(2); });
  slider.addEventListener('pointerdown', () => { row.dragging = true; });
  slider.addEventListener('change', async () => {
    row.dragging = false;
    row.pendingThrottle = Number(slider.value);
    note('command-result', 'throttle ' + name + ' → ' + slider.value + ' …');
    const a = await post('/api/throttle', { node: name, value: slider.value });
    note('command-result', 'throttle → ' + Number(slider.value).toFixed(2) + ': ' + resultText(a), !a.ok);
    row.pendingThrottle = null;
  });
  const policy = el('select', { class: 'policy-select', 'aria-label': 'policy of ' + name });
  for (const p of ['none', 'sender', 'receiver', 'symmetric', 'predictive']) policy.append(el('option', {}, p));
  policy.addEventListener('change', async () => {
    const a = await post('/api/policy', { node: name, name: policy.value });
    note('command-result', 'policy → ' + policy.value + ': ' + resultText(a), !a.ok);
  });
  const cells = {};
  const tr = el('tr', { id: 'node-row-' + name });
  const add = (key, child, cls) => { const td = el('td', cls ? { class: cls } : {}, child || ''); cells[key] = td; tr.append(td); };
  add('name', el('span', {}, name), 'text');
  add('state'); add('queue'); add('running'); add('done'); add('rate');
  add('throttle', el('span', { class: 'throttle' }, slider, value));
  add('policy', policy); add('cpu'); add('owner'); add('forecast'); add('capacity'); add('peers', '', 'text');
  const row = { tr, cells, slider, value, policy, dragging: false, pendingThrottle: null };
  return row;
}

function renderNodes(tick) {
  const view = nodeView(tick);
  const body = $('nodes').querySelector('tbody');
  for (const [name, { n, source }] of view) {
    let row = state.nodes.get(name);
    if (!row) { row = nodeRow(name); state.nodes.set(name, row); body.append(row.tr); }
    const c = row.cells;
    const attached = tick.sources.find((s) => s.name === name);
    let st = 'live', cls = 'live';
    if (attached && !attached.ok) { st = 'dead'; cls = 'dead'; }
    else if (!n) { st = 'unknown'; cls = ''; }
    else if (n.stale) { st = 'stale ' + fmt(n.age, 1) + ' s'; cls = 'stale'; }
    c.state.replaceChildren(el('span', { class: 'badge ' + cls, title: attached && !attached.ok ? attached.error : '' }, st));
    if (!attached) c.state.append(el('span', { class: 'note', title: 'no --node for this node: it is shown as its peers see it, and cannot be steered' }, ' (no socket)'));
    const v = n || {};
    c.queue.textContent = fmt(v.queue); c.running.textContent = fmt(v.running); c.done.textContent = fmt(v.done);
    c.rate.textContent = fmt(v.rate, 1); c.cpu.textContent = fmt(v.cpu); c.owner.textContent = fmt(v.owner);
    c.forecast.textContent = fmt(v.owner_forecast); c.capacity.textContent = v.capacity ? fmt(v.capacity, 1) : '-';
    c.peers.textContent = (v.peers || []).join(' ') || '-';
    if (!row.dragging && row.pendingThrottle === null && v.throttle !== undefined && document.activeElement !== row.slider) {
      row.slider.value = v.throttle; row.value.textContent = fmt(v.throttle, 2);
    }
    row.slider.disabled = row.policy.disabled = !attached;
    if (document.activeElement !== row.policy && v.policy) row.policy.value = v.policy;
  }
}

// ---- workloads ---------------------------------------------------------
function renderWorkloads(tick) {
  const body = $('workloads').querySelector('tbody');
  const seen = new Set();
  for (const s of tick.sources) for (const w of (s.status && s.status.workloads) || []) {
    seen.add(w.id);
    let row = state.workloads.get(w.id);
    if (!row) {
      const bar = el('div', { class: 'bar' }, el('div'), el('span'));
      const cancel = el('button', { class: 'cancel', type: 'button' }, 'cancel');
      cancel.addEventListener('click', async () => {
        const a = await post('/api/cancel', { id: w.id });
        note('command-result', 'cancel ' + w.id + ': ' + resultText(a), !a.ok);
      });
      const tr = el('tr', { id: 'workload-' + w.id }, el('td', { class: 'text' }, w.id), el('td', { class: 'state' }),
        el('td', {}, bar), el('td', { class: 'elapsed' }), el('td', { class: 'text ran' }), el('td', { class: 'duplicates' }),
        el('td', { class: 'verified' }), el('td', {}, cancel));
      row = { tr, bar, cancel };
      state.workloads.set(w.id, row);
      body.prepend(tr);
    }
    const q = (sel) => row.tr.querySelector(sel);
    q('.state').replaceChildren(el('span', { class: 'badge ' + w.state }, w.state));
    const pct = w.jobs ? 100 * w.completed / w.jobs : 0;
    row.bar.className = 'bar ' + w.state;
    row.bar.firstChild.style.width = pct.toFixed(1) + '%';
    row.bar.lastChild.textContent = fmt(w.completed) + ' / ' + fmt(w.jobs);
    q('.elapsed').textContent = fmt(w.elapsed_s, 1) + ' s';
    q('.ran').textContent = Object.entries(w.ran || {}).map(([k, v]) => k + ':' + v).join(' ') || '-';
    q('.duplicates').textContent = fmt(w.duplicates);
    const verified = w.verified ? 'verified' : w.state === 'failed' ? 'failed: ' + (w.error || '') : w.state === 'complete' ? 'not verified' : 'pending';
    q('.verified').textContent = verified;
    q('.verified').classList.toggle('error', w.state === 'failed');
    row.cancel.hidden = w.state !== 'running';
  }
  for (const [id, row] of state.workloads) if (!seen.has(id)) { row.tr.remove(); state.workloads.delete(id); }
}

// ---- charts ------------------------------------------------------------
function drawChart(canvas, legend, series, dashed) {
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const samples = state.samples;
  const left = 40, bottom = 18, top = 8, right = 8;
  let max = 1;
  for (const s of samples) for (const [, vals] of Object.entries(s.n)) for (const i of series) if (vals[i] > max) max = vals[i];
  if (series[0] === 1) max = 100;
  else { const p = Math.pow(10, Math.floor(Math.log10(max))); max = [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= max); }
  const t1 = samples.length ? samples[samples.length - 1].t : 0, t0 = samples.length ? samples[0].t : 0, span = Math.max(t1 - t0, 1);
  const X = (t) => left + (w - left - right) * (t - t0) / span, Y = (v) => h - bottom - (h - bottom - top) * v / max;
  g.strokeStyle = '#d9d9dd'; g.fillStyle = '#6b6b70'; g.font = '11px system-ui'; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4, y = Y(v);
    g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke();
    g.fillText(max >= 4 ? v.toFixed(0) : v.toFixed(1), 2, y + 4);
  }
  g.fillText('-' + span.toFixed(0) + ' s', left, h - 4);
  g.fillText('now', w - right - 22, h - 4);
  const names = new Set();
  for (const s of samples) for (const k of Object.keys(s.n)) names.add(k);
  for (const name of names) {
    for (const i of series) {
      g.strokeStyle = colorOf(name); g.lineWidth = 2; g.setLineDash(dashed && i === dashed ? [5, 4] : []);
      g.beginPath();
      let pen = false;
      for (const s of samples) {
        const v = s.n[name] ? s.n[name][i] : null;
        if (v === null || v === undefined) { pen = false; continue; }
        if (pen) g.lineTo(X(s.t), Y(v)); else g.moveTo(X(s.t), Y(v));
        pen = true;
      }
      g.stroke();
    }
  }
  g.setLineDash([]);
  legend.replaceChildren(...[...names].map((n) => { const i = el('i'); i.style.background = colorOf(n); return el('span', {}, i, n); }));
}
function drawCharts() {
  drawChart($('pending-chart'), $('pending-legend'), [0], null);
  drawChart($('owner-chart'), $('owner-legend'), [1, 2], 2);
}

// ---- events ------------------------------------------------------------
function addEvents(list) {
  for (const e of list) {
    state.events.push(e);
    if (e.kind && !state.kinds.has(e.kind)) { state.kinds.add(e.kind); $('event-kind').append(el('option', {}, e.kind)); }
    if (e.node && !state.eventNodes.has(e.node)) { state.eventNodes.add(e.node); $('event-node').append(el('option', {}, e.node)); }
  }
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  state.dirtyEvents = true;
}
function renderEvents() {
  if (!state.dirtyEvents) return;
  state.dirtyEvents = false;
  const node = $('event-node').value, kind = $('event-kind').value, text = $('event-text').value.toLowerCase();
  const shown = [];
  for (let i = state.events.length - 1; i >= 0 && shown.length < SHOWN_EVENTS; i--) {
    const e = state.events[i];
    if (node && e.node !== node) continue;
    if (kind && e.kind !== kind) continue;
    if (text && !(e.text || '').toLowerCase().includes(text)) continue;
    shown.push(e);
  }
  $('events').replaceChildren(...shown.map((e) => {
    const us = e.time || e.time_us; // a node's events: time; dlb-web's own: time_us (both µs)
    const t = us ? new Date(us / 1000).toLocaleTimeString() : '';
    return el('li', {}, t + ' ', el('span', { class: 'node' }, e.node || '?'), el('span', { class: 'kind' }, e.kind || ''), ' ', (e.text || '') + (e.workload ? ' [' + e.workload + ']' : ''));
  }));
  $('event-count').textContent = '(' + shown.length + ' shown of ' + state.events.length + ' kept)';
}
for (const id of ['event-node', 'event-kind', 'event-text']) $(id).addEventListener('input', () => { state.dirtyEvents = true; renderEvents(); });

// ---- stream ------------------------------------------------------------
function onTick(tick) {
  state.tick = tick;
  state.samples.push(tick.sample);
  if (state.samples.length > MAX_SAMPLES) state.samples.splice(0, state.samples.length - MAX_SAMPLES);
  const attached = tick.sources[0];
  $('attached').textContent = 'attached to node ' + (attached.name || '?') + ' at ' + attached.endpoint +
    (tick.sources.length > 1 ? ' (+' + (tick.sources.length - 1) + ' more)' : '');
  $('submit-node').textContent = 'node ' + (attached.name || '?');
  const noEvents = tick.sources.filter((s) => s.events < 0).map((s) => s.name);
  $('footer').textContent = 'dlb-web ' + tick.version + ' · updated ' + new Date(tick.time * 1000).toLocaleTimeString() +
    (noEvents.length ? ' · nodes without an event stream (dlb-web tells what it sees change): ' + noEvents.join(', ') : '');
  renderNodes(tick);
  renderWorkloads(tick);
}
let frame = 0;
function schedule() {
  if (frame) return;
  frame = requestAnimationFrame(() => { frame = 0; drawCharts(); renderEvents(); });
}
function connect() {
  const source = new EventSource('/api/stream');
  source.addEventListener('open', () => { const l = $('link'); l.textContent = 'live'; l.className = 'badge live'; });
  source.addEventListener('error', () => { const l = $('link'); l.textContent = 'reconnecting'; l.className = 'badge dead'; });
  source.addEventListener('history', (m) => { state.samples = JSON.parse(m.data).samples.slice(-MAX_SAMPLES); schedule(); });
  source.addEventListener('events', (m) => { addEvents(JSON.parse(m.data).events); schedule(); });
  source.addEventListener('tick', (m) => { onTick(JSON.parse(m.data)); schedule(); });
}

$('policy-all').addEventListener('change', async (e) => {
  if (!e.target.value) return;
  const a = await post('/api/policy', { node: '*', name: e.target.value });
  note('command-result', 'policy of all → ' + e.target.value + ': ' + resultText(a), !a.ok);
  e.target.value = '';
});
$('submit-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = {};
  for (const k of ['elements', 'jobs', 'reps', 'input', 'output']) { const v = $('submit-' + k).value.trim(); if (v) f[k] = v; }
  note('submit-result', 'submitting…');
  const a = await post('/api/submit', f);
  const r = (a.results || [])[0];
  note('submit-result', a.ok && r ? 'started ' + r.reply.id : resultText(a), !a.ok);
});
window.addEventListener('resize', schedule);
connect();
