// The manager's dashboard: polls the analytics API and draws every figure as SVG.
// Every bar, slice and headline figure opens the tickets behind it.
'use strict';

const REFRESH_MS = 3000;
const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = ['#2f6fde', '#12a37d', '#e8a317', '#d9453d', '#7a5af8', '#0e9bb5', '#98a2b3'];
const $ = (id) => document.getElementById(id);

// ---------- small helpers ----------

function svg(tag, attrs = {}, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function html(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function text(parent, x, y, content, attrs = {}) {
  const t = svg('text', { x, y, ...attrs }, parent);
  t.textContent = content;
  return t;
}

const num = (v) => (v === null || v === undefined ? '–' : Number(v).toLocaleString('en'));
const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);

function secs(s) {
  if (s === null || s === undefined) return '–';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function empty(container, message = 'Nothing yet for these filters.') {
  container.replaceChildren(html('p', { class: 'empty' }, message));
}

function legend(container, keys) {
  const box = html('div', { class: 'legend' });
  keys.forEach(([label, color]) => {
    const item = html('span');
    item.appendChild(html('i', { style: `background:${color}` }));
    item.appendChild(document.createTextNode(label));
    box.appendChild(item);
  });
  container.appendChild(box);
}

// Charts are drawn at the width they are shown at, so their text stays readable on a phone.
function widthOf(container, fallback) {
  return Math.max(300, Math.round(container.clientWidth || fallback));
}

function clickable(node, drill, title) {
  if (!drill) return;
  node.addEventListener('click', () => openDrill(drill, title));
  node.setAttribute('tabindex', '0');
  node.addEventListener('keydown', (e) => { if (e.key === 'Enter') openDrill(drill, title); });
}

// ---------- charts ----------

// Horizontal bars: rows of {label, value, shown?, drill?, color?}.
function hbars(container, name, rows, opts = {}) {
  if (!rows.length) return empty(container);
  const width = widthOf(container, 420), row = 24, labelW = opts.labelWidth || 130, valueW = opts.valueWidth || 90;
  const max = opts.max || Math.max(1e-9, ...rows.map((r) => r.value || 0));
  const chart = svg('svg', { viewBox: `0 0 ${width} ${rows.length * row + 4}`, 'data-chart': name, role: 'img' });
  svg('title', {}, chart).textContent = opts.title || name;
  rows.forEach((r, i) => {
    const y = i * row + 2;
    text(chart, labelW - 6, y + 15, r.label, { 'text-anchor': 'end' });
    const w = Math.max(r.value ? 2 : 0, ((r.value || 0) / max) * (width - labelW - valueW));
    const bar = svg('rect', {
      class: 'bar', x: labelW, y: y + 3, width: w, height: row - 8, rx: 3,
      fill: r.color || PALETTE[opts.colorIndex || 0],
      'data-label': r.label, 'data-value': r.value ?? '',
    }, chart);
    svg('title', {}, bar).textContent = `${r.label}: ${r.shown ?? num(r.value)}`;
    clickable(bar, r.drill, `${opts.title || name}: ${r.label}`);
    text(chart, labelW + w + 5, y + 15, r.shown ?? num(r.value), { class: 'value' });
  });
  container.replaceChildren(chart);
}

// Horizontal stacked bars: rows of {label, parts: [{key, value, drill}]}.
function stacked(container, name, rows, keys, opts = {}) {
  if (!rows.length) return empty(container);
  const width = widthOf(container, 420), row = 24, labelW = 130, valueW = opts.valueWidth || 70;
  const total = (r) => r.parts.reduce((s, p) => s + (p.value || 0), 0);
  const max = Math.max(1, ...rows.map(total));
  const chart = svg('svg', { viewBox: `0 0 ${width} ${rows.length * row + 4}`, 'data-chart': name, role: 'img' });
  svg('title', {}, chart).textContent = opts.title || name;
  rows.forEach((r, i) => {
    const y = i * row + 2;
    text(chart, labelW - 6, y + 15, r.label, { 'text-anchor': 'end' });
    let x = labelW;
    r.parts.forEach((p, k) => {
      const w = ((p.value || 0) / max) * (width - labelW - valueW);
      if (w <= 0) return;
      const bar = svg('rect', {
        class: 'bar', x, y: y + 3, width: w, height: row - 8,
        fill: keys[k][1], 'data-label': r.label, 'data-key': keys[k][0], 'data-value': p.value,
      }, chart);
      svg('title', {}, bar).textContent = `${r.label}, ${keys[k][0]}: ${num(p.value)}`;
      clickable(bar, p.drill, `${r.label}: ${keys[k][0]}`);
      x += w;
    });
    text(chart, x + 5, y + 15, r.parts.map((p) => num(p.value)).join(' / '), { class: 'value' });
  });
  container.replaceChildren(chart);
  legend(container, keys);
}

// Lines over time: xs are labels, series of {key, color, values}; drills per x.
function lines(container, name, xs, series, drills) {
  if (!xs.length) return empty(container);
  const width = widthOf(container, 860), height = 220, left = 40, bottom = 24, top = 8;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, 'data-chart': name, role: 'img' });
  svg('title', {}, chart).textContent = name;
  const X = (i) => left + (i * (width - left - 10)) / Math.max(1, xs.length - 1);
  const Y = (v) => top + (1 - v / max) * (height - top - bottom);
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    svg('line', { class: 'grid-line', x1: left, x2: width - 10, y1: Y(v), y2: Y(v) }, chart);
    text(chart, left - 6, Y(v) + 4, Math.round(v).toLocaleString('en'), { 'text-anchor': 'end' });
  }
  const every = Math.ceil(xs.length / Math.max(3, Math.floor(width / 90)));
  xs.forEach((x, i) => {
    if (i % every === 0) text(chart, X(i), height - 6, x, { 'text-anchor': 'middle' });
  });
  series.forEach((s) => {
    const d = s.values.map((v, i) => `${i ? 'L' : 'M'}${X(i).toFixed(1)},${Y(v).toFixed(1)}`).join('');
    svg('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'data-series': s.key }, chart);
    s.values.forEach((v, i) => {
      const dot = svg('circle', {
        class: 'dot', cx: X(i), cy: Y(v), r: 3.5, fill: s.color,
        'data-series': s.key, 'data-x': xs[i], 'data-value': v,
      }, chart);
      svg('title', {}, dot).textContent = `${xs[i]} · ${s.key}: ${num(v)}`;
      clickable(dot, drills[i], `${s.key}, ${xs[i]}`);
    });
  });
  container.replaceChildren(chart);
  legend(container, series.map((s) => [s.key, s.color]));
}

// A donut of parts {label, value, drill}.
function donut(container, name, parts) {
  const total = parts.reduce((s, p) => s + p.value, 0);
  if (!total) return empty(container);
  const size = 200, r = 80, inner = 50, c = size / 2;
  const chart = svg('svg', { viewBox: `0 0 ${size + 220} ${size}`, 'data-chart': name, role: 'img' });
  svg('title', {}, chart).textContent = name;
  let angle = -Math.PI / 2;
  parts.forEach((p, i) => {
    const a = (p.value / total) * Math.PI * 2;
    const end = angle + Math.min(a, Math.PI * 2 - 1e-6);
    const large = a > Math.PI ? 1 : 0;
    const pt = (rad, ang) => `${c + rad * Math.cos(ang)},${c + rad * Math.sin(ang)}`;
    const d = `M${pt(r, angle)}A${r},${r} 0 ${large} 1 ${pt(r, end)}L${pt(inner, end)}A${inner},${inner} 0 ${large} 0 ${pt(inner, angle)}Z`;
    const slice = svg('path', { d, class: 'slice', fill: PALETTE[i % PALETTE.length], 'data-label': p.label, 'data-value': p.value }, chart);
    svg('title', {}, slice).textContent = `${p.label}: ${num(p.value)} (${pct(p.value / total)})`;
    clickable(slice, p.drill, `${name}: ${p.label}`);
    svg('rect', { x: size + 20, y: 30 + i * 24, width: 12, height: 12, rx: 2, fill: PALETTE[i % PALETTE.length] }, chart);
    text(chart, size + 40, 41 + i * 24, `${p.label} · ${num(p.value)} · ${pct(p.value / total)}`, { class: 'value' });
    angle += a;
  });
  text(chart, c, c + 5, num(total), { 'text-anchor': 'middle', class: 'value', 'font-size': 16 });
  container.replaceChildren(chart);
}

// Vertical columns: rows of {label, value, drill}.
function columns(container, name, rows) {
  if (!rows.some((r) => r.value)) return empty(container);
  const width = widthOf(container, 420), height = 170, bottom = 20, top = 14;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const w = width / rows.length;
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, 'data-chart': name, role: 'img' });
  svg('title', {}, chart).textContent = name;
  rows.forEach((r, i) => {
    const h = (r.value / max) * (height - top - bottom);
    const bar = svg('rect', {
      class: 'bar', x: i * w + 3, y: height - bottom - h, width: w - 6, height: h, rx: 2,
      fill: PALETTE[0], 'data-label': r.label, 'data-value': r.value,
    }, chart);
    svg('title', {}, bar).textContent = `${r.label}: ${num(r.value)}`;
    clickable(bar, r.drill, `${name}: ${r.label}`);
    if (r.value) text(chart, i * w + w / 2, height - bottom - h - 3, num(r.value), { 'text-anchor': 'middle', class: 'value' });
    text(chart, i * w + w / 2, height - 5, r.label, { 'text-anchor': 'middle' });
  });
  container.replaceChildren(chart);
}

// ---------- filters and fetching ----------

const seen = { pool: new Set(), category: new Set(), region: new Set() };

function filters() {
  const out = {};
  new FormData($('filters')).forEach((v, k) => { if (v) out[k] = v; });
  return out;
}

function params(extra = {}) {
  const p = new URLSearchParams();
  Object.entries({ ...filters(), ...extra }).forEach(([k, v]) => {
    if (v !== undefined && v !== null && v !== '') p.set(k, v);
  });
  return p;
}

// Drill parameters from the API already carry the filters.
function drillParams(drill) {
  const p = new URLSearchParams();
  Object.entries(drill).forEach(([k, v]) => p.set(k, v));
  return p;
}

async function get(path, extra) {
  const response = await Session.fetch(`${path}?${params(extra)}`, { headers: { accept: 'application/json' } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${path}: HTTP ${response.status}`);
  return body;
}

function learnOptions(kind, values) {
  const select = document.querySelector(`select[name=${kind}]`);
  let changed = false;
  values.filter(Boolean).forEach((v) => { if (!seen[kind].has(v)) { seen[kind].add(v); changed = true; } });
  if (!changed) return;
  const current = select.value;
  select.replaceChildren(html('option', { value: '' }, 'all'));
  [...seen[kind]].sort().forEach((v) => select.appendChild(html('option', { value: v }, v)));
  select.value = current;
}

function period() {
  const from = filters().from;
  if (from === '1h' || from === '24h') return 'day';
  if (from === '7d') return 'week';
  return 'month';
}

// ---------- rendering ----------

function kpis(summary, perf) {
  const items = [
    ['tickets', 'Tickets', summary.tickets, summary.drill.tickets],
    ['open', 'Open', summary.open, summary.drill.open],
    ['backlog', 'Waiting in pools', summary.backlog, summary.drill.backlog, summary.backlog > 0],
    ['awaiting_review', 'Awaiting review', summary.awaiting_review, summary.drill.awaiting_review, summary.awaiting_review > 0],
    ['breached', 'SLA breached', summary.breached, summary.drill.breached, summary.breached > 0],
    ['reassigned', 'Reassigned', summary.reassigned, summary.drill.reassigned],
    ['dead_letters', 'Dead letters', summary.dead_letters, null, summary.dead_letters > 0],
    ['mean_confidence', 'Mean confidence', summary.mean_confidence, summary.drill.tickets, false, pct],
    ['assign_p90', 'Time to assign, p90', perf.durations.assign.p90, perf.drill.slowest.assign, false, secs],
  ];
  const box = $('kpis');
  box.replaceChildren();
  items.forEach(([key, label, value, drill, warn, fmt]) => {
    const card = html('button', { type: 'button', class: `kpi${warn ? ' warn' : ''}`, 'data-kpi': key, 'data-value': value ?? '' });
    card.appendChild(html('span', { class: 'v' }, (fmt || num)(value)));
    card.appendChild(html('span', { class: 'l' }, label));
    if (key === 'dead_letters') card.addEventListener('click', () => openDeadLetters());
    else clickable(card, drill, label);
    box.appendChild(card);
  });
}

function render(summary, routing, volume, perf, dead) {
  kpis(summary, perf);
  learnOptions('pool', routing.pools.map((p) => p.pool).concat(routing.experts.flatMap((e) => e.pools)));
  learnOptions('category', summary.categories.map((c) => c.category));
  learnOptions('region', (summary.regions || []).map((r) => r.region));

  const label = (start) => {
    const d = new Date(start);
    return volume.period === 'day'
      ? `${String(d.getHours()).padStart(2, '0')}:00`
      : `${d.getMonth() + 1}/${d.getDate()}`;
  };
  lines($('volume'), 'volume', volume.series.map((b) => label(b.start)), [
    { key: 'created', color: PALETTE[0], values: volume.series.map((b) => b.created) },
    { key: 'resolved', color: PALETTE[1], values: volume.series.map((b) => b.resolved) },
    { key: 'breached', color: PALETTE[3], values: volume.series.map((b) => b.breached) },
  ], volume.series.map((b) => b.drill));

  hbars($('funnel'), 'funnel', summary.funnel.map((s) => ({
    label: s.stage, value: s.tickets, drill: s.drill,
  })), { title: 'Tickets that reached each stage' });

  stacked($('pools'), 'pools', routing.pools.map((p) => ({
    label: p.pool,
    parts: [
      { value: p.backlog, drill: p.drill.backlog },
      { value: p.held, drill: p.drill.held },
    ],
  })), [['waiting', PALETTE[3]], ['with an expert', PALETTE[0]]], { title: 'Backlog and load per pool' });

  const stages = ['categorize', 'assign', 'accept', 'resolve'];
  const rows = [];
  stages.forEach((s) => ['p50', 'p90', 'p99'].forEach((q, k) => {
    const v = perf.durations[s][q];
    rows.push({ label: `${s} ${q}`, value: v, shown: secs(v), drill: perf.drill.slowest[s], color: PALETTE[k] });
  }));
  hbars($('durations'), 'durations', rows.filter((r) => r.value !== null), { title: 'Seconds from submission (accept: from assignment)' });

  donut($('methods'), 'methods', summary.methods.map((m) => ({ label: m.method, value: m.tickets, drill: m.drill })));
  columns($('confidence'), 'confidence', perf.categorizer.confidence_histogram.map((b) => ({
    label: b.from.toFixed(1), value: b.tickets, drill: b.drill,
  })));

  stacked($('categories'), 'categories', summary.categories.map((c) => ({
    label: c.category,
    parts: [
      { value: c.needs_review, drill: { ...c.drill, needs_review: true } },
      { value: c.overridden, drill: { ...c.drill, overridden: true } },
      { value: c.tickets - Math.max(c.needs_review, c.overridden), drill: c.drill },
    ],
  })), [['needs review', PALETTE[2]], ['overridden', PALETTE[3]], ['others', '#d0d5dd']], { valueWidth: 150 });
  $('categories').querySelectorAll('[data-chart=categories] text.value').forEach((t, i) => {
    const c = summary.categories[i];
    t.textContent = `${pct(c.needs_review_rate)} review, ${pct(c.override_rate)} changed`;
  });

  const t = perf.sla_breaches.totals;
  hbars($('breaches'), 'breaches', [
    { label: 'time to assign', value: t.assign, drill: { ...summary.filters, breached: 'assign' } },
    { label: 'time to accept', value: t.accept, drill: { ...summary.filters, breached: 'accept' } },
    { label: 'time to resolve', value: t.resolve, drill: { ...summary.filters, breached: 'resolve' } },
  ], { colorIndex: 3, title: 'Tickets that breached each SLA clock' });

  const experts = routing.experts.slice(0, 15);
  if (!experts.length) empty($('experts'), 'No experts on the roster yet.');
  else hbars($('experts'), 'experts', experts.map((e) => ({
    label: e.name, value: e.utilisation || 0,
    shown: `${e.load}/${e.capacity} · ${e.availability}`,
    color: e.utilisation >= 1 ? PALETTE[3] : e.utilisation >= 0.7 ? PALETTE[2] : PALETTE[1],
    drill: e.drill,
  })), { max: 1, title: 'Open tickets against capacity' });

  const r = routing.totals;
  hbars($('reassignments'), 'reassignments', [
    { label: 'reassignments', value: r.reassignments, drill: { ...summary.filters, reassigned: true } },
    { label: 'rejections', value: r.rejections, drill: { ...summary.filters, rejected: true } },
    { label: 'taken back', value: r.takebacks, drill: { ...summary.filters, taken_back: true } },
    { label: 'escalated', value: r.escalations, drill: { ...summary.filters, escalated: true } },
  ], { colorIndex: 4 });

  if (!dead.by_queue.length) empty($('deadletters'), 'No dead-lettered messages. Good.');
  else hbars($('deadletters'), 'deadletters', dead.by_queue.map((q) => ({ label: q.queue, value: q.messages })), { colorIndex: 3 });
  $('deadletters').querySelectorAll('.bar').forEach((b) => b.addEventListener('click', () => openDeadLetters(b.dataset.label)));
}

// ---------- drill-down ----------

const COLUMNS = [
  ['title', 'Ticket'], ['status', 'Status'], ['priority', 'Priority'], ['category', 'Category'],
  ['pool', 'Pool'], ['method', 'Method'], ['confidence', 'Confidence'], ['expert_name', 'Expert'],
  ['created_at', 'Created'], ['t_assign', 'To assign'], ['t_resolve', 'To resolve'],
];

function showTable(title, rows, cols, exportParams, exportPath) {
  $('drill').hidden = false;
  $('drill-title').textContent = title;
  const table = $('drill-table');
  table.replaceChildren();
  const head = html('tr');
  cols.forEach(([, name]) => head.appendChild(html('th', {}, name)));
  table.appendChild(html('thead')).appendChild(head);
  const body = table.appendChild(html('tbody'));
  rows.forEach((r) => {
    const tr = html('tr', { 'data-ticket': r.ticket_id || r.id || '' });
    cols.forEach(([key]) => {
      let v = r[key];
      if (key.startsWith('t_')) v = secs(v);
      else if (key === 'confidence') v = v === null ? '–' : pct(v);
      else if (key.endsWith('_at') && v) v = new Date(v).toLocaleString();
      tr.appendChild(html('td', { class: key === 'title' ? 'title' : '' }, v ?? '–'));
    });
    body.appendChild(tr);
  });
  for (const fmt of ['csv', 'parquet']) {
    const p = new URLSearchParams(exportParams);
    p.set('format', fmt);
    const link = $(`drill-${fmt}`);
    link.href = `${exportPath}?${p}`;
    link.onclick = (event) => {
      event.preventDefault();
      Session.download(link.href, `tickets.${fmt}`).catch((e) => { link.title = `download failed: ${e.message}`; });
    };
  }
  $('drill').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

async function openDrill(drill, title) {
  const p = drillParams(drill);
  p.set('limit', '100');
  try {
    const response = await Session.fetch(`/api/analytics/drilldown?${p}`);
    const body = await response.json();
    if (!response.ok) throw new Error(body.error);
    p.delete('limit');
    showTable(`${title} — ${num(body.total)} tickets${body.total > body.tickets.length ? `, newest ${body.tickets.length} shown` : ''}`,
      body.tickets, COLUMNS, p, '/api/analytics/drilldown');
  } catch (e) {
    showTable(`${title} — could not load: ${e.message}`, [], COLUMNS, p, '/api/analytics/drilldown');
  }
}

async function openDeadLetters(queue) {
  const extra = queue ? { queue } : {};
  const body = await get('/api/analytics/dead-letters', extra);
  const p = params(extra);
  ['pool', 'category', 'region', 'priority'].forEach((k) => p.delete(k));
  showTable(`Dead-lettered messages — ${num(body.total)}`, body.dead_letters,
    [['queue', 'Queue'], ['reason', 'Reason'], ['event_type', 'Event'], ['ticket_id', 'Ticket'], ['at_at', 'When']],
    p, '/api/analytics/dead-letters');
}

// ---------- the loop ----------

let timer = null;

async function refresh() {
  clearTimeout(timer);
  try {
    const base = filters();
    const scoped = { pool: undefined, category: undefined, region: undefined, priority: undefined };
    const [summary, routing, volume, perf, dead] = await Promise.all([
      get('/api/dashboard/summary'),
      get('/api/dashboard/routing'),
      get('/api/analytics/tickets', { period: period(), from: undefined }),
      get('/api/analytics/performance'),
      get('/api/analytics/dead-letters', { ...scoped, from: base.from }),
    ]);
    render(summary, routing, volume, perf, dead);
    const live = $('live');
    live.className = 'live';
    live.textContent = `live · ${new Date().toLocaleTimeString()} · ${num(summary.events_total)} events`;
    document.body.dataset.version = summary.version;
  } catch (e) {
    const live = $('live');
    live.className = 'live stale';
    live.textContent = `not updating: ${e.message}`;
  }
  if (!document.hidden) timer = setTimeout(refresh, REFRESH_MS);
}

$('filters').addEventListener('change', refresh);
$('drill-close').addEventListener('click', () => { $('drill').hidden = true; });
$('signout').addEventListener('click', () => Session.signOut());
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
refresh();
