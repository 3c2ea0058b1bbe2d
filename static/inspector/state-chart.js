// klagg inspector: a machine's state chart (the JSON of /inspector/machines) laid out by elkjs and drawn as SVG.
// Nested states are boxes inside boxes; transitions are arrows labelled `EVENT [guard]` (and `after …`, `always`,
// `done: src`); a filled dot marks each initial state; final states have a double border. A transition without a
// target (actions only, state unchanged) is listed inside its state's box instead of drawn as an arrow to nowhere.
//
// Exposes window.StateChart = { draw(graph) → Promise<SVGSVGElement>, highlight(svg, activeIds, counts) }.
'use strict';

(() => {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  // The SVG text uses these fonts; the canvas measures with the same ones, so boxes fit their labels.
  const FONT = {
    name: 'bold 12px "DejaVu Sans", system-ui, sans-serif',
    label: '11px "DejaVu Sans Mono", ui-monospace, monospace',
    internal: '10.5px "DejaVu Sans Mono", ui-monospace, monospace',
  };
  const LINE = { name: 16, label: 14, internal: 13 };
  const PAD = 8;
  const HEADER = 24;

  const canvas = document.createElement('canvas').getContext('2d');
  const measure = (text, font) => {
    canvas.font = font;
    return Math.ceil(canvas.measureText(text).width);
  };

  const short = (id) => id.split('.').slice(1).join('.') || id;
  const transitionText = (t) => `${t.event}${t.guard ? ` [${t.guard}]` : ''}`;

  /** The ELK graph of one machine: every state a node (compound ones with children), every targeted transition an edge. */
  function elkGraph(graph, direction) {
    const edges = new Map(); // `${source}→${target}` → { source, target, transitions }
    const node = (state) => {
      const internal = state.transitions.filter((t) => t.targets.length === 0).map(transitionText);
      const invokes = (state.invoked || state.invokes.map((id) => ({ id }))).map((i) => `invoke ${i.src || i.id}`);
      const notes = [...invokes, ...internal.map((text) => `${text} ↺`)];
      for (const t of state.transitions) {
        for (const target of t.targets) {
          const key = `${state.id}→${target}`;
          if (!edges.has(key)) edges.set(key, { source: state.id, target, transitions: [] });
          edges.get(key).transitions.push(t);
        }
      }
      const nameWidth = measure(state.key, FONT.name);
      const notesWidth = Math.max(0, ...notes.map((text) => measure(text, FONT.internal)));
      const elk = {
        id: state.id,
        labels: [{ text: state.key }],
        data: { state, notes },
        layoutOptions: {},
      };
      if (state.states.length === 0) {
        elk.width = Math.max(90, nameWidth, notesWidth) + 2 * PAD;
        elk.height = LINE.name + notes.length * LINE.internal + 2 * PAD;
        return elk;
      }
      const header = HEADER + notes.length * LINE.internal;
      elk.layoutOptions['elk.padding'] = `[top=${header + 10},left=14,bottom=14,right=14]`;
      elk.layoutOptions['elk.nodeSize.constraints'] = 'MINIMUM_SIZE';
      elk.layoutOptions['elk.nodeSize.minimum'] = `(${Math.max(nameWidth, notesWidth) + 2 * PAD}, ${header + 20})`;
      elk.children = state.states.map(node);
      if (state.initial) {
        const marker = `${state.id}.__initial`;
        elk.children.unshift({ id: marker, width: 12, height: 12, data: { initialMarker: true } });
        edges.set(`${marker}→${state.id}.${state.initial}`, { source: marker, target: `${state.id}.${state.initial}`, transitions: [], initial: true });
      }
      return elk;
    };
    const root = node(graph.root);
    const elkEdges = [...edges.values()].map((edge, i) => {
      const lines = edge.transitions.map(transitionText);
      return {
        id: `e${i}`,
        sources: [edge.source],
        targets: [edge.target],
        labels: lines.length === 0 ? [] : [{ text: lines.join('\n'), width: Math.max(...lines.map((l) => measure(l, FONT.label))) + 6, height: lines.length * LINE.label + 2 }],
        data: edge,
      };
    });
    return {
      id: '__root',
      layoutOptions: {
        'elk.algorithm': 'layered',
        'elk.direction': direction,
        'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
        'elk.edgeRouting': 'ORTHOGONAL',
        'elk.layered.spacing.nodeNodeBetweenLayers': '36',
        'elk.spacing.nodeNode': '28',
        'elk.spacing.edgeNode': '14',
        'elk.spacing.edgeEdge': '10',
        'elk.spacing.edgeLabel': '3',
        'elk.layered.spacing.edgeNodeBetweenLayers': '14',
        'elk.edgeLabels.placement': 'CENTER',
        'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
        'elk.json.edgeCoords': 'ROOT',
        'elk.json.shapeCoords': 'ROOT',
        'elk.padding': '[top=8,left=8,bottom=8,right=8]',
      },
      children: [root],
      edges: elkEdges,
    };
  }

  const svgEl = (tag, attributes = {}, text) => {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  };

  function drawNode(group, n, depth) {
    if (n.data?.initialMarker) {
      group.append(svgEl('circle', { class: 'initial-marker', cx: n.x + n.width / 2, cy: n.y + n.height / 2, r: 5.5 }));
      return;
    }
    const { state, notes } = n.data;
    const g = svgEl('g', { class: `state ${state.type}${depth === 0 ? ' machine-root' : ''}`, 'data-state-id': state.id });
    const title = svgEl('title', {}, `${state.id} (${state.type})${state.description ? `\n${state.description}` : ''}`);
    g.append(title, svgEl('rect', { class: 'box', x: n.x, y: n.y, width: n.width, height: n.height, rx: state.states.length > 0 ? 12 : 9 }));
    if (state.type === 'final') g.append(svgEl('rect', { class: 'inner', x: n.x + 3, y: n.y + 3, width: n.width - 6, height: n.height - 6, rx: 7 }));
    const compound = state.states.length > 0;
    g.append(svgEl('text', { class: 'name', x: n.x + (compound ? 12 : n.width / 2), y: n.y + PAD + 12, 'text-anchor': compound ? 'start' : 'middle' }, depth === 0 ? `${state.key} (machine)` : state.key));
    notes.forEach((text, i) => {
      g.append(svgEl('text', { class: text.startsWith('invoke ') ? 'note invoke' : 'note', x: n.x + (compound ? 12 : PAD), y: n.y + PAD + LINE.name + 10 + i * LINE.internal }, text));
    });
    // How many actors are in this state: a badge on the box's top-right corner, shown when there are any.
    const badge = svgEl('g', { class: 'badge' });
    badge.append(svgEl('rect', { x: n.x + n.width - 22, y: n.y - 8, width: 28, height: 15, rx: 7.5 }), svgEl('text', { class: 'count', x: n.x + n.width - 8, y: n.y + 3.5, 'text-anchor': 'middle' }));
    if (depth > 0) g.append(badge);
    group.append(g);
    for (const child of n.children || []) drawNode(group, child, depth + 1);
  }

  function edgePath(section) {
    const points = [section.startPoint, ...(section.bendPoints || []), section.endPoint];
    return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
  }

  function drawEdge(edges, labels, e) {
    const data = e.data;
    const events = data.transitions.map((t) => t.event);
    const g = svgEl('g', { class: `transition${data.initial ? ' initial' : ''}`, 'data-edge': e.id, 'data-source': data.source, 'data-target': data.target, 'data-events': events.join('|') });
    for (const section of e.sections || []) g.append(svgEl('path', { d: edgePath(section), 'marker-end': 'url(#arrow)' }));
    edges.append(g);
    for (const label of e.labels || []) {
      const lg = svgEl('g', { class: 'edge-label', 'data-edge': e.id, 'data-events': events.join('|') });
      lg.append(svgEl('rect', { x: label.x, y: label.y, width: label.width, height: label.height, rx: 3 }));
      data.transitions.forEach((t, i) => {
        const text = svgEl('text', { x: label.x + 3, y: label.y + 11 + i * LINE.label });
        text.append(svgEl('tspan', { class: `event ${t.kind}` }, t.event));
        if (t.guard) text.append(svgEl('tspan', { class: 'guard' }, ` [${t.guard}]`));
        lg.append(text);
      });
      labels.append(lg);
    }
  }

  let elk;
  /**
   * Lays out and draws one machine. Laid out both top-down and left-to-right; the one that needs less shrinking to fit
   * `fit` (the chart area's size) is drawn.
   */
  async function draw(graph, fit = { width: 720, height: 560 }) {
    elk ??= new window.ELK();
    const layouts = await Promise.all(['DOWN', 'RIGHT'].map((direction) => elk.layout(elkGraph(graph, direction))));
    const scale = (l) => Math.min(1, fit.width / l.width, fit.height / l.height);
    const laid = layouts.reduce((best, l) => (scale(l) > scale(best) + 0.02 ? l : best));
    const svg = svgEl('svg', { class: 'state-chart', 'data-machine': graph.id, viewBox: `0 0 ${Math.ceil(laid.width)} ${Math.ceil(laid.height)}`, width: Math.ceil(laid.width), height: Math.ceil(laid.height), role: 'img', 'aria-label': `state chart of ${graph.id}` });
    const defs = svgEl('defs');
    // Sized in user units, so a thicker (highlighted) arrow keeps the same head.
    const marker = svgEl('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' });
    marker.append(svgEl('path', { d: 'M0,0 L10,5 L0,10 z' }));
    defs.append(marker);
    const nodes = svgEl('g', { class: 'nodes' });
    const edges = svgEl('g', { class: 'edges' });
    const labels = svgEl('g', { class: 'labels' });
    for (const child of laid.children) drawNode(nodes, child, 0);
    for (const edge of laid.edges) drawEdge(edges, labels, edge);
    svg.append(defs, nodes, edges, labels);
    // Hovering an arrow or its label picks both out (labels of neighbouring arrows can be close).
    const pick = (edgeId, on) => { for (const g of svg.querySelectorAll(`[data-edge="${edgeId}"]`)) g.classList.toggle('hover', on); };
    svg.addEventListener('pointerover', (e) => { const g = e.target.closest('[data-edge]'); if (g) pick(g.dataset.edge, true); });
    svg.addEventListener('pointerout', (e) => { const g = e.target.closest('[data-edge]'); if (g) pick(g.dataset.edge, false); });
    return svg;
  }

  /** Marks the selected actor's states (`activeIds`) and writes how many actors are in each state (`counts`). */
  function highlight(svg, activeIds, counts) {
    for (const g of svg.querySelectorAll('g.state')) {
      const id = g.dataset.stateId;
      g.classList.toggle('current', activeIds.has(id));
      const count = counts.get(id) || 0;
      g.classList.toggle('occupied', count > 0 && g.querySelector(':scope > .badge') !== null);
      const badge = g.querySelector(':scope > .badge text.count');
      if (badge) badge.textContent = count > 0 ? String(count) : '';
      g.querySelector(':scope > .badge')?.setAttribute('aria-label', `${count} actor${count === 1 ? '' : 's'} in ${id}`);
    }
  }

  window.StateChart = { draw, highlight, short };
})();
