// What the customers' and the experts' pages share: calling the API as the signed-in user
// (through session.js), building elements, saying a ticket's status, times and history in
// words, small confirmation forms, and refreshing a page while it is open.
'use strict';

const UI = (() => {
  // An element with attributes (`on...` functions become listeners) and children.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // Calls the API as the signed-in user. Never throws: resolves to `{ok, status, body}`, with
  // status 0 when the server could not be reached.
  async function api(method, path, body, headers = {}) {
    const init = { method, headers: { accept: 'application/json', ...headers } };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    try {
      const response = await Session.fetch(path, init);
      const text = await response.text();
      let parsed = {};
      try { parsed = text ? JSON.parse(text) : {}; } catch { parsed = { error: text.slice(0, 200) }; }
      return { ok: response.ok, status: response.status, body: parsed };
    } catch {
      return { ok: false, status: 0, body: { error: 'the server cannot be reached; check your connection and try again' } };
    }
  }

  // The API's own words for a failed call.
  function problem(result) {
    const { status, body } = result;
    if (status === 0) return body.error;
    if (status === 429) return `Too many requests; ${body.error || 'wait a moment and try again'}.`;
    const said = body && body.error ? body.error : `the request failed (HTTP ${status})`;
    return said.charAt(0).toUpperCase() + said.slice(1);
  }

  // Each status in words: a short label and what it means for the person reading.
  const STATUS = {
    new: ['Received', 'Your ticket is stored and is being read to find the right team.'],
    categorized: ['Categorized', 'The right team is known; an expert is being chosen.'],
    needs_review: ['In review', 'A help-desk colleague is checking which team should take it.'],
    queued: ['Waiting for an expert', 'Every expert of the team is busy; it is next in line.'],
    assigned: ['Assigned', 'An expert has been chosen and will take it up shortly.'],
    accepted: ['In progress', 'The expert is working on it.'],
    rejected: ['Reassigning', 'Another expert is being chosen.'],
    resolved: ['Resolved', 'The expert has resolved it.'],
    closed: ['Closed', 'Done.'],
    cancelled: ['Cancelled', 'Nobody will work on it.'],
  };
  const statusLabel = (s) => (STATUS[s] || [s])[0];
  const statusMeaning = (s) => (STATUS[s] || [null, ''])[1];

  function badge(status) {
    return el('span', { class: 'badge', 'data-status': status }, statusLabel(status));
  }

  const PRIORITY = { urgent: 'Urgent', high: 'High', normal: 'Normal', low: 'Low' };
  const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };
  const priorityLabel = (p) => PRIORITY[p] || p;
  const byPriority = (a, b) => (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9);

  // "3 min ago" for recent times, the date and time otherwise.
  function ago(iso) {
    if (!iso) return '–';
    const then = new Date(iso);
    const secs = Math.round((Date.now() - then.getTime()) / 1000);
    if (secs < 45) return 'just now';
    if (secs < 3600) return `${Math.max(1, Math.round(secs / 60))} min ago`;
    if (secs < 86400) return `${Math.round(secs / 3600)} h ago`;
    return then.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }

  function time(iso) {
    if (!iso) return el('span', {}, '–');
    const exact = new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
    return el('time', { datetime: iso, title: exact }, ago(iso));
  }

  // A list of label and value pairs; values may be text or elements.
  function facts(rows) {
    return el('dl', { class: 'facts' }, rows.map(([label, value]) => [
      el('dt', {}, label),
      el('dd', {}, value === null || value === undefined || value === '' ? '–' : value),
    ]));
  }

  const quoted = (reason) => (reason ? `: “${reason}”` : '');
  const who = (by) => (by ? ` by ${by}` : '');

  // One event of a ticket's history, in words.
  function describe(event) {
    const d = event.data || {};
    switch (event.type) {
      case 'ticket.created': return 'Submitted';
      case 'ticket.categorized':
        return `Categorized as ${d.category}${d.needs_review ? ', to be checked by a person' : ''}`;
      case 'ticket.recategorized': return `Category set to ${d.to}${who(d.by)}`;
      case 'ticket.queued': return `Waiting for a free expert of the ${d.pool} team`;
      case 'ticket.assigned': return `Assigned to ${d.expert_name}`;
      case 'ticket.unassigned': return `Taken back from its expert${quoted(d.reason)}`;
      case 'ticket.escalated': return 'Handed to a manager after several experts declined it';
      case 'ticket.accepted': return `Accepted${who(d.by)}`;
      case 'ticket.rejected': return `Declined${who(d.by)}${quoted(d.reason)}`;
      case 'ticket.resolved': return `Resolved${who(d.by)}${quoted(d.reason)}`;
      case 'ticket.closed': return `Closed${who(d.by)}`;
      case 'ticket.cancelled': return `Cancelled${who(d.by)}${quoted(d.reason)}`;
      case 'ticket.sla_breached': return `The time to ${d.clock} passed`;
      default: return event.type;
    }
  }

  function history(list, events) {
    list.replaceChildren(...events.map((e) => el('li', { 'data-type': e.type },
      time(e.occurred_at), ' ', el('span', {}, describe(e)))));
    if (!events.length) list.append(el('li', { class: 'empty' }, 'Nothing yet.'));
  }

  // A small form asking to confirm a move, with a reason field when `reason` is given
  // (`{label, required, hint}`). `onConfirm(reason)` resolves to an error text or nothing.
  function confirmForm({ question, reason, confirm, back = 'Back', danger = false, onConfirm, onBack }) {
    const id = `reason-${Math.random().toString(36).slice(2)}`;
    const error = el('p', { class: 'error', role: 'alert' });
    const field = reason && el('textarea', {
      id, name: 'reason', rows: 3, maxlength: 2000, required: reason.required,
      'aria-describedby': `${id}-hint`,
    });
    const submit = el('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, confirm);
    const form = el('form', { class: 'confirm', novalidate: true },
      el('p', { class: 'question' }, question),
      reason && el('div', { class: 'field' },
        el('label', { for: id }, reason.label),
        field,
        el('p', { class: 'hint', id: `${id}-hint` }, reason.hint || '')),
      error,
      el('div', { class: 'actions' }, submit,
        el('button', { type: 'button', class: 'secondary', onclick: () => onBack() }, back)));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = field ? field.value.trim() : '';
      if (reason && reason.required && !text) {
        error.textContent = reason.missing || 'Please give a reason.';
        field.focus();
        return;
      }
      submit.disabled = true;
      error.textContent = '';
      const failed = await onConfirm(text || undefined);
      submit.disabled = false;
      if (failed) error.textContent = failed;
    });
    setTimeout(() => (field || submit).focus(), 0);
    return form;
  }

  // Runs `refresh` now and every `ms` while the page is visible, never twice at once, and says
  // in `live` when the page was last brought up to date. `refresh` resolves to true when it
  // reached the server.
  function poll(refresh, ms, live) {
    let running = false;
    let again = false;
    let timer = null;
    async function tick() {
      clearTimeout(timer);
      if (running) {
        again = true;
        return;
      }
      // A hidden page is brought up to date when it is shown again.
      if (document.hidden) return;
      running = true;
      const reached = await refresh().catch(() => false);
      running = false;
      live.classList.toggle('stale', !reached);
      live.textContent = reached
        ? `updated ${new Date().toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })}`
        : 'cannot reach the server; retrying';
      if (again) {
        again = false;
        tick();
        return;
      }
      timer = setTimeout(tick, ms);
    }
    document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });
    tick();
    return { now: tick };
  }

  // Shows who is signed in and wires the sign-out button.
  function signedIn(me) {
    document.getElementById('who').textContent = me.name || me.email;
    const button = document.getElementById('signout');
    button.hidden = false;
    button.addEventListener('click', () => Session.signOut());
  }

  // Tells a user of another role where their page is.
  function wrongRole(me, wanted) {
    const pages = { customer: ['/customer', 'the customers’ page'], expert: ['/expert', 'the experts’ page'],
      manager: ['/dashboard', 'the dashboard'], admin: ['/dashboard', 'the dashboard'] };
    const [href, name] = pages[me.role] || ['/', 'the home page'];
    const notice = document.getElementById('notice');
    notice.replaceChildren(`You are signed in as ${me.email}, a ${me.role}; this page is for ${wanted}. Go to `,
      el('a', { href }, name), ' or sign out and sign in again.');
    notice.hidden = false;
  }

  // Asks who is signed in and shows it; the account when its role is `role`, otherwise null
  // after saying why (the API's problem, or where this user's page is).
  async function enter(role, wanted) {
    const me = await api('GET', '/api/auth/me');
    if (!me.ok) {
      const notice = document.getElementById('notice');
      notice.textContent = problem(me);
      notice.hidden = false;
      return null;
    }
    signedIn(me.body);
    if (me.body.role !== role) {
      wrongRole(me.body, wanted);
      return null;
    }
    return me.body;
  }

  return {
    el, api, problem, badge, statusLabel, statusMeaning, priorityLabel, byPriority, ago, time,
    facts, describe, history, confirmForm, poll, enter,
  };
})();
