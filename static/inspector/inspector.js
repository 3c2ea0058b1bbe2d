// klagg inspector: the actors klagg runs (a tree: parent → children, finished ones collapsed into counters), the
// state chart of a machine (drawn by state-chart.js) with the selected actor's state highlighted live, the selected
// actor's context and last events, and the recent events. Live from /inspector/events (Server-Sent Events).
// Vanilla JS, served by klagg itself.
'use strict';

const MAX_EVENTS = 500;
const SHOWN_EVENTS = 200;
const model = {
  graphs: new Map(),
  order: new Map(),
  actors: new Map(),
  finished: new Map(),
  expanded: new Set(),
  events: [],
  selected: null,
  shownMachine: null,
  filter: '',
  changesOnly: false,
  details: null,
};

const $ = (selector) => document.querySelector(selector);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

// ---- values ---------------------------------------------------------------------------------------------------

/** 'Active' → ['Active']; { live: 'open' } → ['live.open']; parallel regions give one path each. */
const statePaths = (value) =>
  value === null || value === undefined ? [] : typeof value === 'string' ? [value] : Object.entries(value).flatMap(([key, child]) => {
    const inner = statePaths(child);
    return inner.length === 0 ? [key] : inner.map((path) => `${key}.${path}`);
  });
/** The ids of every state the value is in, ancestors included: { live: 'open' } → streamConnection.live, streamConnection.live.open. */
const activeIds = (machine, value) => new Set(statePaths(value).flatMap((path) => path.split('.').map((_, i, parts) => `${machine}.${parts.slice(0, i + 1).join('.')}`)));
const stateText = (value) => statePaths(value).join(', ') || '–';
const leafName = (value) => statePaths(value)[0]?.split('.').at(-1) ?? 'none';
const actorName = (actor) => actor.systemId || actor.src || actor.id;
const kindText = (actor) => (actor.kind === 'machine' ? actor.machine : `${actor.kind} actor${actor.src ? ` ${actor.src}` : ''}`);
const isStateless = (actor) => actor.kind !== 'machine' || model.graphs.get(actor.machine)?.stateless === true;
const time = (at) => new Date(at).toISOString().slice(11, 23);

function actorText(actor) {
  return [actorName(actor), actor.id, actor.machine, actor.kind, actor.src, actor.symbol, stateText(actor.state), actor.lastEvent].filter(Boolean).join(' ').toUpperCase();
}
const matches = (actor) => !model.filter || actorText(actor).includes(model.filter.toUpperCase());
function eventMatches(e) {
  if (!model.filter) return true;
  const actor = model.actors.get(e.actor);
  const text = [e.name, e.machine, e.symbol, e.event, stateText(e.state), actor ? actorText(actor) : ''].filter(Boolean).join(' ').toUpperCase();
  return text.includes(model.filter.toUpperCase());
}

// ---- actors ---------------------------------------------------------------------------------------------------

function actorRow(actor, depth) {
  const row = el('tr');
  row.dataset.key = actor.key;
  row.dataset.machine = actor.machine;
  if (actor.key === model.selected) row.classList.add('selected');
  if (actor.status !== 'active') row.classList.add('stopped');
  const name = el('td');
  name.style.paddingLeft = `${0.4 + depth * 1.1}rem`;
  name.title = `${actorName(actor)} — ${kindText(actor)}`;
  name.append(el('span', 'name', actorName(actor)), el('span', 'what', kindText(actor)));
  const stateCell = el('td');
  const text = isStateless(actor) ? (actor.kind === 'machine' ? 'stateless' : actor.kind) : stateText(actor.state);
  stateCell.append(el('span', `state ${isStateless(actor) ? 'none' : leafName(actor.state)}`, actor.status === 'active' ? text : `${text} (${actor.status})`));
  stateCell.title = stateText(actor.state);
  row.append(name, stateCell, el('td', 'mono', actor.lastEvent || ''), el('td', 'num', String(actor.events)));
  return row;
}

function groupRow(group, depth) {
  const row = el('tr', 'finished-group');
  row.dataset.group = group.key;
  const open = model.expanded.has(group.key);
  const name = el('td');
  name.colSpan = 2;
  name.style.paddingLeft = `${0.4 + depth * 1.1}rem`;
  const what = group.kind === 'machine' ? group.name : `${group.name} (${group.kind})`;
  name.append(el('span', 'toggle', open ? '▾' : '▸'), document.createTextNode(`${group.count} finished ${what}`));
  name.title = 'finished actors are counted, not listed: click to see the last few';
  const statuses = Object.entries(group.statuses).map(([status, n]) => `${n} ${status}`).join(', ');
  row.append(name, el('td', '', statuses), el('td', 'num', time(group.lastAt).slice(0, 8)));
  return row;
}

function drawActors() {
  const actors = [...model.actors.values()];
  const rows = [];
  const bySort = (a, b) => (model.order.get(a.machine) ?? 99) - (model.order.get(b.machine) ?? 99) || actorName(a).localeCompare(actorName(b), 'en', { numeric: true });
  if (model.filter) {
    for (const actor of actors.filter((a) => a.status === 'active' && matches(a)).sort(bySort)) rows.push(actorRow(actor, 0));
    for (const group of model.finished.values()) if (`${group.name} ${group.machine} ${group.kind}`.toUpperCase().includes(model.filter.toUpperCase())) rows.push(groupRow(group, 0));
  } else {
    const children = new Map();
    const groupsOf = new Map();
    for (const actor of actors) {
      if (actor.status !== 'active') continue; // finished: shown in its group
      const parent = actor.parent && model.actors.has(actor.parent) ? actor.parent : '';
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(actor);
    }
    for (const group of model.finished.values()) {
      const parent = group.parent && model.actors.has(group.parent) ? group.parent : '';
      if (!groupsOf.has(parent)) groupsOf.set(parent, []);
      groupsOf.get(parent).push(group);
    }
    const walk = (parent, depth) => {
      for (const actor of (children.get(parent) || []).sort(bySort)) {
        rows.push(actorRow(actor, depth));
        walk(actor.key, depth + 1);
      }
      for (const group of groupsOf.get(parent) || []) {
        rows.push(groupRow(group, depth));
        if (!model.expanded.has(group.key)) continue;
        for (const key of [...group.kept].reverse()) if (model.actors.has(key)) rows.push(actorRow(model.actors.get(key), depth + 1));
      }
    };
    walk('', 0);
  }
  $('#actors tbody').replaceChildren(...rows);
  const active = actors.filter((a) => a.status === 'active').length;
  const finished = [...model.finished.values()].reduce((sum, g) => sum + g.count, 0);
  $('#actor-count').textContent = `(${rows.length} rows · ${active} running · ${finished} finished)`;
}

// ---- events ---------------------------------------------------------------------------------------------------

function eventItem(e) {
  const item = el('li');
  item.dataset.actor = e.actor;
  const what = e.type === 'transition' ? `${stateText(e.from)} → ${stateText(e.state)}` : e.type === 'spawn' ? 'spawned' : e.type === 'status' ? e.status : `in ${stateText(e.state)}`;
  item.append(el('span', 'time', time(e.at)), ' ', el('span', 'who', e.name), ' ', el('span', 'machine', `(${e.machine})`), ' ', el('span', 'event', e.event), ` ${what}`);
  return item;
}

function drawEvents() {
  const shown = model.events.filter((e) => (!model.changesOnly || e.type === 'transition' || e.type === 'spawn') && eventMatches(e));
  $('#events').replaceChildren(...shown.slice(-SHOWN_EVENTS).reverse().map(eventItem));
  $('#event-count').textContent = `(${Math.min(shown.length, SHOWN_EVENTS)} of ${model.events.length})`;
}

// ---- machine tabs, chart, actor panel -------------------------------------------------------------------------

function drawTabs() {
  const counts = new Map();
  for (const actor of model.actors.values()) if (actor.status === 'active' && actor.kind === 'machine') counts.set(actor.machine, (counts.get(actor.machine) || 0) + 1);
  const nav = $('#machines');
  if (nav.children.length !== model.graphs.size) {
    nav.replaceChildren(...[...model.graphs.keys()].map((id) => {
      const button = el('button');
      button.type = 'button';
      button.dataset.machine = id;
      button.append(id, el('span', 'n'));
      return button;
    }));
  }
  for (const button of nav.children) {
    button.classList.toggle('shown', button.dataset.machine === model.shownMachine);
    button.querySelector('.n').textContent = String(counts.get(button.dataset.machine) || 0);
  }
}

const charts = new Map();
let chartShown = null;
async function showChart() {
  const selected = model.selected ? model.actors.get(model.selected) : undefined;
  const machine = selected && selected.kind !== 'machine' ? `:${selected.key}` : model.shownMachine;
  if (machine === chartShown) return;
  chartShown = machine;
  const head = $('#chart-head');
  const box = $('#chart');
  if (machine === null) return box.replaceChildren();
  if (machine.startsWith(':')) {
    head.replaceChildren(el('h2', '', `${actorName(selected)} — ${selected.kind} actor`));
    box.replaceChildren(noChart(selected));
    return;
  }
  const graph = model.graphs.get(machine);
  head.replaceChildren(el('h2', '', `${graph.id}`), el('span', 'hint', graph.stateless ? 'stateless machine' : 'arrows: EVENT [guard] → target · ● initial state · double border: final · ↺ handled in place · blue: the selected actor\'s state'));
  if (graph.stateless) {
    box.replaceChildren(statelessCard(graph));
    return highlight();
  }
  if (!charts.has(machine)) charts.set(machine, StateChart.draw(graph, { width: box.clientWidth - 4, height: Math.max(400, innerHeight * 0.7) }));
  const svg = await charts.get(machine);
  if (chartShown !== machine) return;
  box.replaceChildren(svg);
  highlight();
}

function statelessCard(graph) {
  const card = el('div', 'no-chart');
  card.append(el('p', '', `${graph.id} has no states: it handles every event in place (its actions do the work) and never changes state. The events it handles:`));
  const table = el('table', 'handled');
  table.append(el('thead'));
  table.tHead.append(el('tr'));
  table.tHead.rows[0].append(el('th', '', 'event'), el('th', '', 'guard'), el('th', '', 'actions'));
  const body = el('tbody');
  for (const t of graph.root.transitions) {
    const row = el('tr');
    row.dataset.event = t.event;
    row.append(el('td', 'mono', t.event), el('td', 'mono', t.guard || ''), el('td', 'mono', (t.actions || []).join(', ')));
    body.append(row);
  }
  table.append(body);
  card.append(table);
  return card;
}

function noChart(actor) {
  const card = el('div', 'no-chart');
  const parent = actor.parent ? model.actors.get(actor.parent) : undefined;
  const about = {
    callback: 'A callback actor has no states: it runs a function that receives events and sends events back to its parent.',
    promise: 'A promise actor has no states: it runs one asynchronous task and ends done (with its output) or with an error.',
    observable: 'An observable actor has no states: it emits the values of a stream to its parent.',
    transition: 'A transition actor has no states: it reduces each event into its context.',
  }[actor.kind] || 'This actor runs logic without states.';
  card.append(el('p', '', `${about}${parent ? ` ${actor.kind === 'promise' ? 'Invoked' : 'Run'} by ${actorName(parent)} (${parent.machine}).` : ''} Its events and context are below.`));
  return card;
}

function highlight() {
  const svg = $('#chart svg.state-chart');
  const selected = model.selected ? model.actors.get(model.selected) : undefined;
  if (svg) {
    const machine = svg.dataset.machine;
    const counts = new Map();
    for (const actor of model.actors.values()) {
      if (actor.status !== 'active' || actor.machine !== machine || !matches(actor)) continue;
      for (const id of activeIds(machine, actor.state)) counts.set(id, (counts.get(id) || 0) + 1);
    }
    const current = selected && selected.machine === machine ? activeIds(machine, selected.state) : new Set();
    StateChart.highlight(svg, current, counts);
    // The transition the selected actor took last (from the recent events): the arrow from a state it was in to a
    // state it is in now, labelled with that event.
    for (const g of svg.querySelectorAll('g.transition, g.edge-label')) g.classList.remove('taken');
    const last = selected && selected.machine === machine ? model.events.findLast((e) => e.actor === selected.key && e.type === 'transition') : undefined;
    if (last && last.event === selected.lastEvent) {
      const from = activeIds(machine, last.from);
      for (const g of svg.querySelectorAll('g.transition')) {
        if (!from.has(g.dataset.source) || !current.has(g.dataset.target) || !g.dataset.events.split('|').includes(last.event)) continue;
        for (const part of svg.querySelectorAll(`[data-edge="${g.dataset.edge}"]`)) part.classList.add('taken');
      }
    }
  }
  for (const row of document.querySelectorAll('#chart table.handled tbody tr')) row.classList.toggle('last', Boolean(selected && selected.machine === model.shownMachine && row.dataset.event === selected.lastEvent));
}

function drawActorPanel() {
  const panel = $('#actor-panel');
  const selected = model.selected ? model.actors.get(model.selected) : undefined;
  if (!model.selected) return void (panel.hidden = true);
  panel.hidden = false;
  const details = model.details && model.details.actor.key === model.selected ? model.details : null;
  const actor = selected || details?.actor;
  if (!actor) {
    panel.replaceChildren(el('p', 'note', 'This actor finished and is no longer kept (only the last few finished actors of each kind are).'));
    return;
  }
  const title = el('h3', '', actorName(actor));
  title.append(el('span', 'what', kindText(actor)));
  const facts = el('dl');
  const fact = (name, value) => value !== undefined && value !== '' && facts.append(el('dt', '', name), el('dd', 'mono', value));
  const parent = actor.parent ? model.actors.get(actor.parent) : undefined;
  fact('state', isStateless(actor) ? `(none: ${actor.kind === 'machine' ? 'stateless machine' : `${actor.kind} actor`})` : stateText(actor.state));
  fact('status', actor.status);
  fact('parent', parent ? `${actorName(parent)} (${parent.machine})` : undefined);
  fact('symbol', actor.symbol);
  fact('events', `${actor.events} (last: ${actor.lastEvent || '–'} at ${time(actor.updatedAt)})`);
  const columns = el('div', 'columns');
  const contextBox = el('div', 'context');
  contextBox.append(el('h4', '', 'Context'));
  if (!details) contextBox.append(el('p', 'note', 'loading…'));
  else if (details.context === null) contextBox.append(el('p', 'note', details.contextNote || 'no context'));
  else {
    const json = JSON.stringify(details.context, null, 2);
    const fold = el('details');
    fold.open = json.length < 4000;
    fold.append(el('summary', '', `${Object.keys(details.context || {}).length} keys · ${json.length} chars`), el('pre', 'json', json));
    contextBox.append(fold);
  }
  const eventsBox = el('div', 'actor-events');
  eventsBox.append(el('h4', '', 'Last events'));
  if (details) {
    const table = el('table');
    const cols = el('colgroup');
    cols.append(el('col', 't'), el('col'), el('col'));
    table.append(cols);
    const body = el('tbody');
    for (const e of [...details.events].reverse()) {
      const row = el('tr');
      row.append(el('td', '', time(e.at)), el('td', '', e.event), el('td', '', e.state !== undefined ? `→ ${stateText(e.state)}` : e.status ? e.status : ''));
      body.append(row);
    }
    table.append(body);
    eventsBox.append(table);
  }
  columns.append(contextBox, eventsBox);
  panel.replaceChildren(title, facts, columns);
}

let detailsTimer = null;
let detailsInFlight = false;
function refreshDetails(now = false) {
  if (!model.selected || detailsTimer !== null) return;
  detailsTimer = setTimeout(async () => {
    detailsTimer = null;
    if (detailsInFlight || !model.selected) return;
    const key = model.selected;
    detailsInFlight = true;
    try {
      const response = await fetch(`/inspector/actors/${encodeURIComponent(key)}`);
      // 404: the actor finished and was let go; the panel says so.
      model.details = response.ok ? await response.json() : null;
    } finally {
      detailsInFlight = false;
    }
    if (key === model.selected) drawActorPanel();
  }, now ? 0 : 400);
}

// ---- rendering ------------------------------------------------------------------------------------------------

let pending = false;
function render() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    drawActors();
    drawTabs();
    showChart();
    highlight();
    drawEvents();
    drawActorPanel();
  });
}

function select(key) {
  model.selected = key;
  model.details = null;
  const actor = key ? model.actors.get(key) : undefined;
  if (actor && actor.kind === 'machine') model.shownMachine = actor.machine;
  if (key) refreshDetails(true);
  render();
}

// ---- data -----------------------------------------------------------------------------------------------------

function applySnapshot(snapshot) {
  model.actors = new Map(snapshot.actors.map((a) => [a.key, a]));
  model.finished = new Map(snapshot.finished.map((g) => [g.key, g]));
  model.events = snapshot.recent.slice(-MAX_EVENTS);
  render();
}

function applyChange(change) {
  for (const actor of change.actors) model.actors.set(actor.key, actor);
  for (const key of change.removed) model.actors.delete(key);
  for (const group of change.finished) model.finished.set(group.key, group);
  for (const key of change.droppedGroups) model.finished.delete(key);
  model.events.push(...change.events);
  if (model.events.length > MAX_EVENTS) model.events.splice(0, model.events.length - MAX_EVENTS);
  if (model.selected && (change.actors.some((a) => a.key === model.selected) || change.removed.includes(model.selected))) refreshDetails();
  render();
}

function connect() {
  const status = $('#status');
  const source = new EventSource('/inspector/events');
  source.addEventListener('open', () => { status.textContent = 'live'; status.className = 'status live'; });
  source.addEventListener('error', () => { status.textContent = 'disconnected, retrying…'; status.className = 'status down'; });
  source.addEventListener('snapshot', (e) => applySnapshot(JSON.parse(e.data)));
  source.addEventListener('change', (e) => applyChange(JSON.parse(e.data)));
}

async function main() {
  const response = await fetch('/inspector/machines');
  const { machines } = await response.json();
  model.graphs = new Map(machines.map((g) => [g.id, g]));
  model.order = new Map(machines.map((g, i) => [g.id, i]));
  const wanted = new URLSearchParams(location.hash.slice(1)).get('machine');
  model.shownMachine = model.graphs.has(wanted) ? wanted : machines.find((g) => !g.stateless)?.id ?? null;
  $('#filter').addEventListener('input', (e) => { model.filter = e.target.value.trim(); render(); });
  $('#changes-only').addEventListener('change', (e) => { model.changesOnly = e.target.checked; render(); });
  $('#machines').addEventListener('click', (e) => {
    const button = e.target.closest('button');
    if (!button) return;
    model.shownMachine = button.dataset.machine;
    const selected = model.selected ? model.actors.get(model.selected) : undefined;
    if (selected && selected.machine !== model.shownMachine) select(null);
    render();
  });
  // The chart is shrunk to fit its panel; a click shows it at full size (scrolling), another fits it again.
  $('#chart').addEventListener('click', () => $('#chart').classList.toggle('full-size'));
  $('#actors tbody').addEventListener('click', (e) => {
    const row = e.target.closest('tr');
    if (!row) return;
    if (row.dataset.group) {
      if (!model.expanded.delete(row.dataset.group)) model.expanded.add(row.dataset.group);
      return render();
    }
    select(model.selected === row.dataset.key ? null : row.dataset.key);
  });
  connect();
  render();
}

main().catch((error) => { $('#status').textContent = `failed: ${error.message}`; $('#status').className = 'status down'; });
