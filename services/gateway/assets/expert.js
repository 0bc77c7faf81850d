// The experts' page: the tickets assigned to the signed-in expert, grouped by what they ask
// of them. Accept or reject (with a reason) what is waiting, resolve what is in progress; the
// list keeps itself up to date while the page is open.
'use strict';

(() => {
  const { el, api, problem } = UI;
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 4000;
  const RECENT = 10;
  const GROUPS = ['assigned', 'accepted', 'resolved'];
  const TITLE = document.title;

  // One card per ticket, kept across refreshes, so that a reason being typed is not lost.
  const cards = new Map(); // id -> card
  let poller = null;

  function flash(text) {
    $('flash').textContent = text;
  }

  function newCard(t) {
    const titleId = `t-${t.id}`;
    const c = {
      ticket: t,
      status: null, // the status the actions were built for
      title: el('h4', { id: titleId }),
      badge: el('span'),
      description: el('p', { class: 'description' }),
      facts: el('div'),
      error: el('p', { class: 'error', role: 'alert' }),
      actions: el('div', { class: 'actions' }),
      history: el('ol', { class: 'history' }),
    };
    c.details = el('details', {}, el('summary', {}, 'History'), c.history);
    c.details.addEventListener('toggle', () => { if (c.details.open) loadHistory(c); });
    c.node = el('li', { class: 'assignment', 'data-id': t.id },
      el('article', { 'aria-labelledby': titleId },
        el('div', { class: 'assignment-head' }, c.title, c.badge),
        c.description, c.facts, c.error, c.actions, c.details));
    return c;
  }

  function update(c, t) {
    c.ticket = t;
    c.node.dataset.status = t.status;
    c.title.textContent = t.title;
    c.badge.replaceChildren(UI.badge(t.status));
    c.description.textContent = t.description;
    c.facts.replaceChildren(UI.facts([
      ['Priority', UI.priorityLabel(t.priority)],
      ['Category', t.category],
      ['Customer', t.customer],
      ['Region', t.region],
      ['Submitted', UI.time(t.created_at)],
      [t.status === 'resolved' ? 'Resolved' : 'Assigned', UI.time(t.status === 'resolved' ? t.resolved_at : t.assigned_at)],
    ]));
    if (c.status !== t.status) {
      c.status = t.status;
      c.error.textContent = '';
      renderActions(c);
    }
    if (c.details.open) loadHistory(c);
  }

  function renderActions(c) {
    const t = c.ticket;
    const back = () => renderActions(c);
    const buttons = [];
    if (t.status === 'assigned') {
      buttons.push(el('button', {
        type: 'button', class: 'primary', 'data-action': 'accept',
        onclick: async (event) => {
          event.currentTarget.disabled = true;
          const failed = await move(c, 'accept');
          if (failed) {
            c.error.textContent = failed;
            renderActions(c);
          }
        },
      }, 'Accept'));
      buttons.push(el('button', {
        type: 'button', class: 'secondary', 'data-action': 'reject',
        onclick: () => c.actions.replaceChildren(UI.confirmForm({
          question: 'Reject this ticket? It goes back to routing, which picks another expert.',
          reason: {
            label: 'Why can you not take it?', required: true,
            hint: 'The next expert and the managers see the reason.',
            missing: 'Please say why you cannot take it.',
          },
          confirm: 'Reject ticket', danger: true,
          onConfirm: (reason) => move(c, 'reject', reason), onBack: back,
        })),
      }, 'Reject…'));
    }
    if (t.status === 'accepted') {
      buttons.push(el('button', {
        type: 'button', class: 'primary', 'data-action': 'resolve',
        onclick: () => c.actions.replaceChildren(UI.confirmForm({
          question: 'Mark this ticket resolved? The customer is told and can close it.',
          reason: { label: 'What did you do? (optional)', hint: 'The customer sees this in the ticket’s history.' },
          confirm: 'Mark resolved',
          onConfirm: (reason) => move(c, 'resolve', reason), onBack: back,
        })),
      }, 'Resolve…'));
    }
    c.actions.replaceChildren(...buttons);
  }

  const DONE = {
    accept: (t) => `You accepted “${t.title}”.`,
    reject: (t) => `You rejected “${t.title}”; it goes to another expert.`,
    resolve: (t) => `You resolved “${t.title}”; the customer is told.`,
  };

  // A lifecycle move; resolves to an error text when it was refused.
  async function move(c, action, reason) {
    const result = await api('POST', `/api/tickets/${c.ticket.id}/${action}`, reason ? { reason } : {});
    if (!result.ok) {
      // The ticket may have moved meanwhile (taken back, cancelled): show where it is now.
      if (result.status === 404 || result.status === 409) poller.now();
      return problem(result);
    }
    flash(DONE[action](result.body));
    update(c, result.body);
    poller.now();
    return null;
  }

  async function loadHistory(c) {
    const result = await api('GET', `/api/tickets/${c.ticket.id}/history`);
    if (result.ok) UI.history(c.history, result.body.events || []);
  }

  const oldestAssignedFirst = (a, b) => UI.byPriority(a, b) || (a.assigned_at || '').localeCompare(b.assigned_at || '');
  const latestResolvedFirst = (a, b) => (b.resolved_at || '').localeCompare(a.resolved_at || '');

  // Puts `tickets` into the list `id` in this order, moving only what is out of place (a moved
  // node loses the focus of whoever is typing in it).
  function place(id, tickets) {
    const list = $(id);
    tickets.forEach((t, i) => {
      let c = cards.get(t.id);
      if (!c) {
        c = newCard(t);
        cards.set(t.id, c);
      }
      update(c, t);
      if (list.children[i] !== c.node) list.insertBefore(c.node, list.children[i] || null);
    });
    $(`${id}-empty`).hidden = tickets.length > 0;
  }

  async function refresh() {
    const results = await Promise.all([
      api('GET', '/api/tickets?status=assigned&limit=200'),
      api('GET', '/api/tickets?status=accepted&limit=200'),
      api('GET', `/api/tickets?status=resolved&limit=${RECENT}`),
    ]);
    const failed = results.find((r) => !r.ok);
    if (failed) {
      $('list-error').textContent = problem(failed);
      return failed.status !== 0;
    }
    $('list-error').textContent = '';
    const [assigned, accepted, resolved] = results.map((r) => r.body.items);
    assigned.sort(oldestAssignedFirst);
    accepted.sort(oldestAssignedFirst);
    resolved.sort(latestResolvedFirst);
    const seen = new Set([...assigned, ...accepted, ...resolved].map((t) => t.id));
    for (const [id, c] of cards) {
      if (!seen.has(id)) {
        c.node.remove();
        cards.delete(id);
      }
    }
    [assigned, accepted, resolved].forEach((tickets, i) => place(GROUPS[i], tickets));
    $('assigned-count').textContent = assigned.length ? `(${assigned.length})` : '';
    $('accepted-count').textContent = accepted.length ? `(${accepted.length})` : '';
    document.title = assigned.length ? `(${assigned.length}) ${TITLE}` : TITLE;
    return true;
  }

  async function start() {
    if (!await UI.enter('expert', 'experts')) return;
    $('workspace').hidden = false;
    poller = UI.poll(refresh, REFRESH_MS, $('live'));
  }

  start();
})();
