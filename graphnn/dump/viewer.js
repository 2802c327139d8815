// graphnn dump --format html: the viewer. Reads the JSON in #gnn-data, lays the graph out
// in layers (longest path from the inputs, then barycentre ordering), draws it as SVG and
// links it with the kernels, their OpenCL source, the Python lines, profile, memory and
// check tables. State can be set from the URL: #graph=forward&search=relu&collapse=all|a,b
// &kernel=NAME&node=ID (the tests drive a headless browser that way).
"use strict";
const DATA = JSON.parse(document.getElementById("gnn-data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
const BOX_W = 150, BOX_H = 44, GAP_X = 24, GAP_Y = 46, MARGIN = 30;
const COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2",
                "#edc948", "#9c755f"];
const state = {graph: 0, collapsed: new Set(), search: "", kernel: null, node: null};

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4))
                                   : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function graph() { return DATA.graphs[state.graph]; }
function nodeById(g) { const m = new Map(); g.nodes.forEach(n => m.set(n.id, n)); return m; }
// launches of deduplicated kernels share a name: the selection is a launch index
function kernelIndexByName(g, name) { return g.kernels.findIndex(k => k.name === name); }
function kernelOfNode(g, n) { return g.kernels.findIndex(k => k.group === n.group); }

// module paths of a node, outermost first: "layer1.0.conv1" -> layer1, layer1.0, ...
function modulePaths(n) {
  if (!n.module) return [];
  const parts = n.module.split("."), out = [];
  for (let i = 1; i <= parts.length; i++) out.push(parts.slice(0, i).join("."));
  return out;
}

function unitOf(n) {
  for (const m of modulePaths(n)) if (state.collapsed.has(m)) return "m:" + m;
  return "n:" + n.id;
}

function allModules(g) {
  const s = new Set();
  g.nodes.forEach(n => modulePaths(n).forEach(m => s.add(m)));
  return [...s].sort();
}

// -- layout -------------------------------------------------------------------------------
function buildUnits(g) {
  const units = new Map(), edges = new Map();
  for (const n of g.nodes) {
    if (n.op === "const") continue;
    const u = unitOf(n);
    if (!units.has(u)) units.set(u, {id: u, nodes: [], order: units.size});
    units.get(u).nodes.push(n);
  }
  const byId = nodeById(g);
  for (const n of g.nodes) {
    if (n.op === "const") continue;
    const to = unitOf(n);
    n.args.forEach(a => {
      const src = byId.get(a);
      if (!src || src.op === "const") return;
      const from = unitOf(src);
      if (from === to) return;
      const key = from + ">" + to;
      if (!edges.has(key)) edges.set(key, {from, to, type: src.type,
        mem: src.kernel !== null && src.kernel !== n.kernel});
    });
  }
  return {units, edges: [...edges.values()]};
}

function layout(units, edges) {
  const preds = new Map(), succs = new Map();
  units.forEach((_, id) => { preds.set(id, []); succs.set(id, []); });
  edges.forEach(e => { preds.get(e.to).push(e.from); succs.get(e.from).push(e.to); });
  // longest path from the sources; a cycle made by collapsing is cut where DFS meets it
  const rank = new Map(), visiting = new Set();
  function rankOf(id) {
    if (rank.has(id)) return rank.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let r = 0;
    for (const p of preds.get(id)) r = Math.max(r, rankOf(p) + 1);
    visiting.delete(id);
    rank.set(id, r);
    return r;
  }
  units.forEach((_, id) => rankOf(id));
  // inputs and parameters sit just above their first reader, not all in the top row
  units.forEach((u, id) => {
    if (preds.get(id).length || !succs.get(id).length) return;
    rank.set(id, Math.max(0, Math.min(...succs.get(id).map(s => rank.get(s))) - 1));
  });
  const layers = [];
  [...units.values()].sort((a, b) => a.order - b.order).forEach(u => {
    const r = rank.get(u.id);
    (layers[r] = layers[r] || []).push(u.id);
  });
  const pos = new Map();
  const place = () => layers.forEach(l => l && l.forEach((id, i) => pos.set(id, i)));
  place();
  for (let sweep = 0; sweep < 4; sweep++) {
    const down = sweep % 2 === 0;
    const seq = down ? layers : [...layers].reverse();
    seq.forEach(l => {
      if (!l) return;
      const bary = id => {
        const nb = down ? preds.get(id) : succs.get(id);
        return nb.length ? nb.reduce((s, x) => s + pos.get(x), 0) / nb.length : pos.get(id);
      };
      l.sort((a, b) => bary(a) - bary(b));
      l.forEach((id, i) => pos.set(id, i));
    });
  }
  const widest = Math.max(1, ...layers.map(l => (l ? l.length : 0)));
  const xy = new Map();
  layers.forEach((l, r) => {
    if (!l) return;
    const shift = (widest - l.length) * (BOX_W + GAP_X) / 2;
    l.forEach((id, i) => xy.set(id, {x: MARGIN + shift + i * (BOX_W + GAP_X),
                                      y: MARGIN + 18 + r * (BOX_H + GAP_Y)}));
  });
  return {xy, width: 2 * MARGIN + widest * (BOX_W + GAP_X),
          height: 2 * MARGIN + 18 + layers.length * (BOX_H + GAP_Y)};
}

// -- drawing ------------------------------------------------------------------------------
function unitLabel(u) {
  if (u.id.startsWith("m:")) {
    const kernels = new Set(u.nodes.filter(n => n.kernel).map(n => n.kernel));
    return ["\u25B8 " + u.id.slice(2), `${u.nodes.length} nodes, ${kernels.size} kernels`];
  }
  const n = u.nodes[0];
  return [`%${n.node} ${n.op}`, n.type, n.scope];
}

function draw() {
  const g = graph();
  const {units, edges} = buildUnits(g);
  const {xy, width, height} = layout(units, edges);
  const svg = el("svg:svg", {width, height, id: "canvas"});
  const hlNodes = new Set();
  if (state.kernel !== null && g.kernels[state.kernel]) {
    g.kernels[state.kernel].nodes.forEach(x => hlNodes.add(x));
  }
  const q = state.search.trim().toLowerCase();
  const matches = q ? g.nodes.filter(n => n.op !== "const" &&
      (`%${n.node} ${n.op} ${n.type} ${n.scope}`).toLowerCase().includes(q)) : [];
  const matchIds = new Set(matches.map(n => n.id));
  // frames around expanded modules, outermost first
  for (const m of allModules(g)) {
    if (modulePaths({module: m}).some(p => state.collapsed.has(p))) continue;
    const inside = [...units.values()].filter(u => u.nodes.some(n => modulePaths(n).includes(m)));
    if (!inside.length) continue;
    const ps = inside.map(u => xy.get(u.id));
    const depth = m.split(".").length;
    const x0 = Math.min(...ps.map(p => p.x)) - 8 + depth, y0 = Math.min(...ps.map(p => p.y)) - 16;
    const x1 = Math.max(...ps.map(p => p.x)) + BOX_W + 8 - depth;
    const y1 = Math.max(...ps.map(p => p.y)) + BOX_H + 6;
    svg.append(el("svg:rect", {class: "frame", x: x0, y: y0, width: x1 - x0, height: y1 - y0}));
    const t = el("svg:text", {class: "frame", x: x0 + 4, y: y0 + 11, "data-module": m},
                 "\u25BE " + m);
    t.addEventListener("click", () => { state.collapsed.add(m); draw(); });
    svg.append(t);
  }
  for (const e of edges) {
    const a = xy.get(e.from), b = xy.get(e.to);
    const x1 = a.x + BOX_W / 2, y1 = a.y + BOX_H, x2 = b.x + BOX_W / 2, y2 = b.y;
    const my = (y1 + y2) / 2;
    svg.append(el("svg:path", {class: "edge" + (e.mem ? " mem" : ""),
      d: `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`}));
    svg.append(el("svg:text", {class: "edge", x: (x1 + x2) / 2 + 3, y: my}, e.type));
  }
  let shown = 0;
  for (const u of units.values()) {
    const p = xy.get(u.id), isModule = u.id.startsWith("m:");
    const n = u.nodes[0];
    const cls = ["unit"];
    if (isModule) cls.push("module", "collapsed");
    else if (n.op === "input" || n.op === "param") cls.push("leaf");
    if (u.nodes.some(x => hlNodes.has(x.id))) cls.push("hl");
    if (!isModule && state.node === n.id) cls.push("sel");
    if (q) cls.push(u.nodes.some(x => matchIds.has(x.id)) ? "match" : "dim");
    const grp = el("svg:g", {class: cls.join(" "), transform: `translate(${p.x},${p.y})`,
                             "data-unit": u.id});
    if (isModule) grp.setAttribute("data-module", u.id.slice(2));
    else grp.setAttribute("data-node", n.id);
    const rect = el("svg:rect", {width: BOX_W, height: BOX_H, rx: 5});
    if (!isModule && n.group !== null) rect.style.stroke = COLORS[n.group % COLORS.length];
    grp.append(rect);
    unitLabel(u).forEach((line, i) => grp.append(el("svg:text", {x: 6, y: 13 + i * 12},
                                                    String(line).slice(0, 28))));
    const title = el("svg:title", {}, isModule ? u.id.slice(2) :
                     `${n.line} ${n.src}`.trim());
    grp.append(title);
    grp.addEventListener("click", () => {
      if (isModule) { state.collapsed.delete(u.id.slice(2)); draw(); return; }
      selectNode(n.id);
    });
    svg.append(grp);
    shown++;
  }
  const holder = document.getElementById("graph");
  holder.replaceChildren(svg);
  document.getElementById("status").textContent =
    `${g.nodes.length} nodes, ${g.kernels.length} launches; ${shown} boxes shown` +
    (q ? `; ${matches.length} match "${state.search}"` : "");
  const ds = document.body.dataset;
  ds.graph = g.label; ds.units = String(shown); ds.matches = String(matches.length);
  ds.collapsed = [...state.collapsed].sort().join(",");
  ds.highlighted = String(document.querySelectorAll("g.unit.hl").length);
  ds.ready = "1";
}

// -- side panel ---------------------------------------------------------------------------
function section(title) {
  const s = el("section");
  s.append(el("h2", {}, title));
  document.getElementById("side").append(s);
  return s;
}

function numbered(text) {
  const pre = el("pre");
  text.split("\n").forEach((line, i) => {
    pre.append(el("span", {class: "ln"}, String(i + 1).padStart(4) + "  "));
    pre.append(document.createTextNode(line + "\n"));
  });
  return pre;
}

function selectKernel(index) {
  state.kernel = index; state.node = null; draw(); details();
}

function selectNode(id) {
  const n = nodeById(graph()).get(id);
  const k = n && n.group !== null ? kernelOfNode(graph(), n) : -1;
  state.node = id; state.kernel = k >= 0 ? k : null; draw(); details();
}

function details() {
  const side = document.getElementById("side");
  side.replaceChildren();
  const g = graph(), byId = nodeById(g);
  const sel = section(state.node !== null ? "Node" : state.kernel !== null ? "Kernel"
                                                                            : "Selection");
  sel.id = "details";
  if (state.node !== null) {
    const n = byId.get(state.node);
    sel.append(el("div", {}, `%${n.node} = ${n.op}  ${n.type}`));
    if (n.attrs) sel.append(el("div", {class: "ops"}, n.attrs));
    sel.append(el("div", {}, `module: ${n.scope || "-"}`));
    if (n.line) sel.append(el("div", {class: "pyline"}, `${n.line}  ${n.src}`));
  }
  const k = state.kernel !== null ? g.kernels[state.kernel] || null : null;
  if (k) {
    sel.append(el("h2", {}, `kernel ${k.name}`));
    sel.append(el("div", {class: "ops"}, `${k.ops.join(", ")} - ${k.flops} flops, ` +
      `${k.bytes} bytes` + (k.time_us !== undefined ? `, ${k.time_us.toFixed(1)} us` : "")));
    const lines = el("div", {id: "kernel-lines"});
    const seen = new Set();
    k.nodes.forEach(id => {
      const n = byId.get(id);
      if (!n || !n.line || seen.has(n.line)) return;
      seen.add(n.line);
      lines.append(el("div", {class: "pyline"}, `${n.line}  ${n.src}`));
    });
    sel.append(el("div", {}, "Python lines:"), lines);
    sel.append(el("div", {}, "OpenCL source:"), numbered(k.source || "(not included)"));
  } else if (state.node === null) {
    sel.append(el("div", {class: "ops"}, "Click a kernel or a node; a collapsed module " +
                  "(\u25B8) expands on click, a module title (\u25BE) collapses it."));
  }
  const ks = section("Kernels");
  const ul = el("ul", {class: "kernels"});
  g.kernels.forEach((kk, i) => {
    const li = el("li", {class: "kernel" + (i === state.kernel ? " sel" : ""),
                         "data-kernel": kk.name, "data-index": i});
    li.style.borderLeftColor = COLORS[kk.group % COLORS.length];
    li.append(el("b", {}, kk.name), el("div", {class: "ops"}, kk.ops.join(", ") +
      (kk.time_us !== undefined ? `  -  ${kk.time_us.toFixed(1)} us` : "")));
    li.addEventListener("click", () => selectKernel(i));
    ul.append(li);
  });
  ks.append(ul);
  if (DATA.profile) profileTable();
  if (DATA.memory) memoryChart();
  if (DATA.check) checkTable();
  if (DATA.why) whyList();
}

function table(parent, head, rows) {
  const t = el("table");
  const tr = el("tr");
  head.forEach(h => tr.append(el("th", {class: /^[a-z ]+$/.test(h) ? "" : "num"}, h)));
  t.append(tr);
  rows.forEach(r => t.append(r));
  parent.append(t);
  return t;
}

function profileTable() {
  const s = section("Profile");
  const p = DATA.profile;
  s.append(el("div", {}, `${p.launches_per_call} launches per call, ` +
    `${p.total_us.toFixed(1)} us per call (median of ${p.runs}); compile ` +
    Object.entries(p.compile_seconds).map(([k, v]) => `${k} ${v.toFixed(3)} s`).join(", ")));
  const rows = DATA.graphs.flatMap(g => g.kernels.map((k, i) => {
    const r = el("tr", {class: "click"});
    [g.label, k.name, k.time_us.toFixed(1), (100 * k.share).toFixed(1) + "%", k.bytes,
     k.gbps.toFixed(2), k.flops, k.gflops.toFixed(2)].forEach((v, i) =>
      r.append(el("td", {class: i > 1 ? "num" : ""}, String(v))));
    r.addEventListener("click", () => { showGraph(g.label); selectKernel(i); });
    return r;
  }));
  table(s, ["graph", "kernel", "us", "share", "bytes", "GB/s", "flops", "GFLOP/s"], rows);
}

function memoryChart() {
  const s = section("Memory (live device bytes after each launch)");
  const m = DATA.memory;
  const top = Math.max(1, ...m.points.map(p => p.live_bytes));
  const w = 8, h = 90;
  const svg = el("svg:svg", {width: m.points.length * (w + 2) + 10, height: h + 14, id: "memory"});
  m.points.forEach((p, i) => {
    const bh = Math.max(1, h * p.live_bytes / top);
    const peak = p.live_bytes === m.peak[p.graph];
    const r = el("svg:rect", {class: "bar" + (peak ? " peak" : ""), x: 5 + i * (w + 2),
                              y: h - bh, width: w, height: bh});
    r.append(el("svg:title", {}, `${p.graph} ${p.index} ${p.kernel}: ${p.live_bytes} bytes`));
    svg.append(r);
  });
  s.append(svg);
  Object.entries(m.peak).forEach(([label, v]) =>
    s.append(el("div", {}, `${label}: peak ${v} bytes (${m.baseline[label]} before the first launch)`)));
}

function checkTable() {
  const s = section("Check against the numpy reference");
  const c = DATA.check;
  const bad = c.nodes.find(x => !x.ok);
  s.append(el("div", {id: "first-bad"}, bad ? `first mismatch: ${bad.graph} %${bad.node} ` +
    `(${bad.op}) in ${bad.kernel}` : "every stored value is within tolerance"));
  const rows = c.nodes.filter(x => x.stored).map(x => {
    const r = el("tr", {class: "click" + (x.ok ? "" : " bad")});
    [x.graph, "%" + x.node, x.op, x.kernel, x.max_abs, x.max_rel].forEach((v, i) =>
      r.append(el("td", {class: i > 3 ? "num" : ""},
                  typeof v === "number" ? v.toExponential(2) : String(v))));
    r.addEventListener("click", () => { showGraph(x.graph); selectNode(x.node); });
    return r;
  });
  table(s, ["graph", "node", "op", "kernel", "max abs", "max rel"], rows);
}

function whyList() {
  const s = section("Why not fused");
  const rows = DATA.why.map(w => {
    const r = el("tr", {class: "click"});
    [w.graph, `${w.producer_kernel} \u2192 ${w.consumer_kernel}`, `%${w.producer} \u2192 %${w.consumer}`,
     w.reason, w.detail].forEach(v => r.append(el("td", {}, v)));
    r.addEventListener("click", () => { showGraph(w.graph); selectNode(w.consumer); });
    return r;
  });
  table(s, ["graph", "kernels", "value", "reason", "detail"], rows);
}

// -- controls -----------------------------------------------------------------------------
function showGraph(label) {
  const i = DATA.graphs.findIndex(g => g.label === label);
  if (i >= 0 && i !== state.graph) { state.graph = i; state.kernel = null; state.node = null; }
  document.querySelectorAll("button.graph").forEach(b =>
    b.classList.toggle("on", b.dataset.graph === graph().label));
}

function init() {
  document.getElementById("title").textContent = `${DATA.model} \u2014 ${DATA.device}`;
  const bar = document.getElementById("graphs");
  DATA.graphs.forEach(g => {
    const b = el("button", {class: "graph", "data-graph": g.label}, g.label);
    b.addEventListener("click", () => { showGraph(g.label); draw(); details(); });
    bar.append(b);
  });
  const search = document.getElementById("search");
  search.addEventListener("input", () => { state.search = search.value; draw(); });
  document.getElementById("collapse").addEventListener("click", () => {
    allModules(graph()).filter(m => !m.includes(".")).forEach(m => state.collapsed.add(m));
    draw();
  });
  document.getElementById("expand").addEventListener("click", () => {
    state.collapsed.clear(); draw();
  });
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("graph")) showGraph(params.get("graph"));
  showGraph(graph().label);
  // a large graph opens collapsed by top-level module
  if (graph().nodes.length > 150) allModules(graph()).filter(m => !m.includes("."))
    .forEach(m => state.collapsed.add(m));
  const collapse = params.get("collapse");
  if (collapse === "all") allModules(graph()).filter(m => !m.includes("."))
    .forEach(m => state.collapsed.add(m));
  else if (collapse) collapse.split(",").forEach(m => state.collapsed.add(m));
  if (params.has("search")) { state.search = params.get("search"); search.value = state.search; }
  if (params.has("kernel")) {
    const i = kernelIndexByName(graph(), params.get("kernel"));
    state.kernel = i >= 0 ? i : null;
  }
  if (params.has("node")) { selectNode(Number(params.get("node"))); return; }
  draw();
  details();
}

init();
