// klagg inspector: draws the state charts of graphs.json and highlights the actors' states live from the
// /inspector/events stream (Server-Sent Events). Vanilla JS, served by klagg itself.
'use strict';

const MAX_EVENTS = 500;
const model = { graphs: [], actors: new Map(), events: [], selected: null, filter: '', changesOnly: false };

const $ = (selector) => document.querySelector(selector);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

/** 'Active' → ['symbol.Active']; { live: 'open' } → ['streamConnection.live', 'streamConnection.live.open']. */
function activeIds(prefix, value) {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [`${prefix}.${value}`];
  return Object.entries(value).flatMap(([key, child]) => [`${prefix}.${key}`, ...activeIds(`${prefix}.${key}`, child)]);
}

const stateText = (value) => (value === null || value === undefined ? '–' : typeof value === 'string' ? value : JSON.stringify(value));
const leafName = (value) => (typeof value === 'string' ? value : value && typeof value === 'object' ? leafName(Object.values(value)[0]) : '');
const actorName = (actor) => actor.systemId || actor.id;
const time = (at) => new Date(at).toISOString().slice(11, 23);

function matchesFilter(actor) {
  if (!model.filter) return true;
  const needle = model.filter.toUpperCase();
  if (actor.machine === 'symbol') return (actor.symbol || actor.id).toUpperCase().includes(needle);
  return true; // non-symbol actors stay visible
}

// ---- charts ------------------------------------------------------------------------------------------------

function drawState(state, parent) {
  const box = el('div', `node ${state.type}`);
  box.dataset.stateId = state.id;
  box.append(el('span', 'name', state.key), el('span', 'count'));
  if (state.transitions.length > 0) {
    const list = el('ul');
    for (const t of state.transitions) {
      const item = el('li');
      item.append(el('span', 'event', t.event));
      if (t.guard) item.append(el('span', 'guard', ` [${t.guard}]`));
      const targets = t.targets.map((id) => id.split('.').slice(1).join('.') || id);
      item.append(document.createTextNode(` → ${targets.length > 0 ? targets.join(', ') : '(stays)'}`));
      list.append(item);
    }
    box.append(list);
  }
  if (state.states.length > 0) {
    const children = el('div', 'states');
    for (const child of state.states) {
      const childBox = drawState(child, state);
      if (state.initial === child.key) childBox.classList.add('initial');
      children.append(childBox);
    }
    box.append(children);
  }
  return box;
}

function drawCharts() {
  const charts = $('#charts');
  charts.replaceChildren();
  for (const machine of model.graphs) {
    const section = el('div', 'machine');
    section.dataset.machine = machine.id;
    section.append(el('h3', '', machine.id));
    const root = drawState(machine.root, null);
    // The root box holds the top-level states; its own transitions (if any) are listed too.
    section.append(root);
    charts.append(section);
  }
}

function highlightCharts() {
  const counts = new Map();
  for (const actor of model.actors.values()) {
    if (actor.status !== 'active' || !matchesFilter(actor)) continue;
    for (const id of activeIds(actor.machine, actor.state)) counts.set(id, (counts.get(id) || 0) + 1);
  }
  const selected = model.selected ? model.actors.get(model.selected) : undefined;
  const current = new Set(selected ? activeIds(selected.machine, selected.state) : []);
  for (const box of document.querySelectorAll('#charts .node')) {
    const id = box.dataset.stateId;
    const count = counts.get(id) || 0;
    box.classList.toggle('active', count > 0);
    box.classList.toggle('current', current.has(id));
    box.querySelector(':scope > .count').textContent = count > 0 ? String(count) : '';
  }
}

// ---- actors and events ----------------------------------------------------------------------------------------

function drawActors() {
  const order = new Map(model.graphs.map((g, i) => [g.id, i]));
  const actors = [...model.actors.values()].filter(matchesFilter).sort((a, b) =>
    (order.get(a.machine) ?? 99) - (order.get(b.machine) ?? 99) || actorName(a).localeCompare(actorName(b)));
  const body = $('#actors tbody');
  body.replaceChildren(...actors.map((actor) => {
    const row = el('tr');
    row.dataset.key = actor.key;
    if (actor.key === model.selected) row.classList.add('selected');
    if (actor.status !== 'active') row.classList.add('stopped');
    const state = el('span', `state ${leafName(actor.state)}`, actor.status === 'active' ? stateText(actor.state) : `${stateText(actor.state)} (${actor.status})`);
    const stateCell = el('td');
    stateCell.append(state);
    row.append(el('td', '', actorName(actor)), el('td', '', actor.machine), stateCell, el('td', '', actor.lastEvent || ''), el('td', '', String(actor.events)));
    return row;
  }));
  $('#actor-count').textContent = `(${actors.length} of ${model.actors.size})`;
}

function drawEvents() {
  const needle = model.filter.toUpperCase();
  const shown = model.events.filter((e) =>
    (!model.changesOnly || e.type === 'transition' || e.type === 'spawn') &&
    (!needle || e.machine !== 'symbol' || (e.symbol || e.name).toUpperCase().includes(needle)));
  const list = $('#events');
  list.replaceChildren(...shown.slice(-200).reverse().map((e) => {
    const item = el('li');
    const what = e.type === 'transition' ? `${stateText(e.from)} → ${stateText(e.state)}` : e.type === 'spawn' ? 'spawned' : e.type === 'status' ? e.status : `in ${stateText(e.state)}`;
    item.append(el('span', 'time', time(e.at)), document.createTextNode(` ${e.name} (${e.machine}) `), el('span', 'event', e.event), document.createTextNode(` ${what}`));
    return item;
  }));
}

let pending = false;
function render() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    drawActors();
    highlightCharts();
    drawEvents();
  });
}

// ---- data -----------------------------------------------------------------------------------------------------

function applySnapshot(snapshot) {
  model.actors = new Map(snapshot.actors.map((a) => [a.key, a]));
  model.events = snapshot.recent.slice(-MAX_EVENTS);
  render();
}

function applyChange(change) {
  for (const actor of change.actors) model.actors.set(actor.key, actor);
  model.events.push(...change.events);
  if (model.events.length > MAX_EVENTS) model.events.splice(0, model.events.length - MAX_EVENTS);
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
  const response = await fetch('/inspector/graphs.json');
  model.graphs = (await response.json()).machines;
  drawCharts();
  $('#filter').addEventListener('input', (e) => {
    model.filter = e.target.value.trim();
    const matches = [...model.actors.values()].filter((a) => a.machine === 'symbol' && matchesFilter(a));
    if (model.filter && matches.length === 1) model.selected = matches[0].key;
    render();
  });
  $('#changes-only').addEventListener('change', (e) => { model.changesOnly = e.target.checked; render(); });
  $('#actors tbody').addEventListener('click', (e) => {
    const row = e.target.closest('tr');
    if (!row) return;
    model.selected = model.selected === row.dataset.key ? null : row.dataset.key;
    const actor = model.actors.get(model.selected);
    if (actor) document.querySelector(`#charts .machine[data-machine="${CSS.escape(actor.machine)}"]`)?.scrollIntoView({ block: 'nearest' });
    render();
  });
  connect();
}

main().catch((error) => { $('#status').textContent = `failed: ${error.message}`; $('#status').className = 'status down'; });
