// bench/tmp-core.ts
import { DuckDBInstance } from "@duckdb/node-api";

// src/operators/mining/itemset-sequence.ts
function compareItems(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}
function normalizeItemset(items) {
  return [...new Set(items)].sort(compareItems);
}
function sessionSequence(elements, itemsetSeparator) {
  if (itemsetSeparator === void 0 || itemsetSeparator === "") return elements.map((item) => [item]);
  return elements.map((element) => normalizeItemset(element.split(itemsetSeparator).filter((item) => item !== "")));
}

// src/operators/mining/distinct-subsequences.ts
function containsAll(superset, subset) {
  let i = 0;
  for (let j = 0; j < subset.length; j += 1) {
    const wanted = subset[j];
    while (i < superset.length && superset[i] < wanted) i += 1;
    if (i === superset.length || superset[i] !== wanted) return false;
    i += 1;
  }
  return true;
}

// src/operators/mining/prefixspan.ts
function forEachFrequentSequence(database, options, visit) {
  const minCount = Math.max(1, options.minSupportCount);
  const maxLength = options.maxLength ?? Number.POSITIVE_INFINITY;
  if (maxLength < 1) return;
  const items = distinctItems(database);
  const idOf = new Map(items.map((item, id) => [item, id]));
  const hasMultiItemSteps = database.some((sequence) => sequence.some((step) => step.length > 1));
  const flatItems = database.map((sequence) => flatten(sequence, idOf));
  const encoded = hasMultiItemSteps ? flatItems.map((flat, sequence) => stepViews(flat, database[sequence])) : [];
  const stepAt = hasMultiItemSteps ? database.map((sequence) => stepOfPositions(sequence)) : [];
  const stepStart = hasMultiItemSteps ? database.map((sequence) => stepStarts(sequence)) : [];
  const firstPositionOf = (sequence, step) => hasMultiItemSteps ? stepStart[sequence][step] : step;
  const stepOf = (sequence, position) => hasMultiItemSteps ? stepAt[sequence][position] : position;
  const counts = new Int32Array(items.length);
  const lastCounted = new Int32Array(items.length).fill(-1);
  const childOf = new Int32Array(items.length).fill(-1);
  const seenStamp = new Int32Array(items.length);
  let stamp = 0;
  const touched = [];
  const countOnce = (item, sequence) => {
    if (lastCounted[item] === sequence) return;
    lastCounted[item] = sequence;
    if (counts[item] === 0) touched.push(item);
    counts[item] += 1;
  };
  const takeFrequent = () => {
    const frequent = { items: [], supports: [] };
    for (const item of touched) {
      if (counts[item] >= minCount) {
        frequent.items.push(item);
        frequent.supports.push(counts[item]);
      }
      counts[item] = 0;
      lastCounted[item] = -1;
    }
    touched.length = 0;
    return frequent;
  };
  const countStepExtensions = (projection) => {
    for (let p = 0; p < projection.length; p++) {
      const sequence = projection.sequences[p];
      const flat = flatItems[sequence];
      for (let at = firstPositionOf(sequence, projection.ends[p] + 1); at < flat.length; at++) countOnce(flat[at], sequence);
    }
    return takeFrequent();
  };
  const projectSteps = (projection, extensions) => {
    const children = extensions.items.map(emptyProjection);
    extensions.items.forEach((item, child) => childOf[item] = child);
    for (let p = 0; p < projection.length; p++) {
      const sequence = projection.sequences[p];
      const flat = flatItems[sequence];
      stamp++;
      for (let at = firstPositionOf(sequence, projection.ends[p] + 1); at < flat.length; at++) {
        const item = flat[at];
        const child = childOf[item];
        if (child < 0 || seenStamp[item] === stamp) continue;
        seenStamp[item] = stamp;
        pushProjection(children[child], sequence, stepOf(sequence, at));
      }
    }
    for (const item of extensions.items) childOf[item] = -1;
    return children;
  };
  const projectWithin = (projection, step) => {
    const next = emptyProjection();
    for (let p = 0; p < projection.length; p++) {
      const sequence = projection.sequences[p];
      const steps = encoded[sequence];
      for (let at = projection.ends[p]; at < steps.length; at += 1) {
        if (containsAll(steps[at], step)) {
          pushProjection(next, sequence, at);
          break;
        }
      }
    }
    return next;
  };
  const grow = (pattern, projection, length) => {
    if (length > 0) visit(pattern, projection.length, items);
    if (length >= maxLength) return;
    const leaves = length + 1 >= maxLength;
    if (hasMultiItemSteps && length > 0) {
      const last = pattern[pattern.length - 1];
      const maxLast = last[last.length - 1];
      for (let p = 0; p < projection.length; p++) {
        const sequence = projection.sequences[p];
        const steps = encoded[sequence];
        for (let step = projection.ends[p]; step < steps.length; step += 1) {
          const ids = steps[step];
          if (!containsAll(ids, last)) continue;
          for (let k = 0; k < ids.length; k++) if (ids[k] > maxLast) countOnce(ids[k], sequence);
        }
      }
      const { items: extensions2, supports } = takeFrequent();
      for (let e = 0; e < extensions2.length; e++) {
        const extended = [...last, extensions2[e]];
        const extendedPattern = [...pattern.slice(0, -1), extended];
        if (leaves) visit(extendedPattern, supports[e], items);
        else grow(extendedPattern, projectWithin(projection, extended), length + 1);
      }
    }
    const extensions = countStepExtensions(projection);
    if (leaves) {
      const extendedPattern = [...pattern, [0]];
      const added = extendedPattern[extendedPattern.length - 1];
      for (let e = 0; e < extensions.items.length; e++) {
        added[0] = extensions.items[e];
        visit(extendedPattern, extensions.supports[e], items);
      }
      return;
    }
    const children = projectSteps(projection, extensions);
    for (let e = 0; e < extensions.items.length; e++) {
      grow([...pattern, [extensions.items[e]]], children[e], length + 1);
    }
  };
  const root = emptyProjection();
  for (let sequence = 0; sequence < database.length; sequence++) pushProjection(root, sequence, -1);
  grow([], root, 0);
}
function distinctItems(database) {
  const seen = /* @__PURE__ */ new Set();
  for (const sequence of database) for (const step of sequence) for (const item of step) seen.add(item);
  return [...seen].sort(compareItems);
}
function flatten(sequence, idOf) {
  let size = 0;
  for (const step of sequence) size += step.length;
  const flat = new Int32Array(size);
  let at = 0;
  for (const step of sequence) {
    const from = at;
    for (const item of step) flat[at++] = idOf.get(item);
    if (at - from > 1) flat.subarray(from, at).sort();
  }
  return flat;
}
function stepViews(flat, sequence) {
  const views = [];
  let at = 0;
  for (const step of sequence) views.push(flat.subarray(at, at += step.length));
  return views;
}
function stepOfPositions(sequence) {
  const of = new Int32Array(sequence.reduce((sum, step) => sum + step.length, 0));
  let at = 0;
  sequence.forEach((step, index) => of.fill(index, at, at += step.length));
  return of;
}
function stepStarts(sequence) {
  const starts = new Int32Array(sequence.length + 1);
  for (let index = 0; index < sequence.length; index++) starts[index + 1] = starts[index] + sequence[index].length;
  return starts;
}
function emptyProjection() {
  return { length: 0, sequences: [], ends: [] };
}
function pushProjection(projection, sequence, end) {
  projection.sequences.push(sequence);
  projection.ends.push(end);
  projection.length++;
}

// src/operators/mining/min-support.ts
function sequenceMinSupportCount(minSupport, sequenceCount) {
  if (minSupport >= 1) return Math.ceil(minSupport);
  return Math.max(1, Math.ceil(minSupport * sequenceCount));
}

// bench/tmp-core.ts
var db = await DuckDBInstance.create(":memory:");
var c = await db.connect();
var rows = (await c.runAndReadAll("select (epoch_ms(end_ts) // 3600000) w, page_items from read_parquet('/tmp/cpbench/out10k/sessions/**/*.parquet') order by all")).getRowObjects();
var windows = /* @__PURE__ */ new Map();
for (const r of rows) {
  const w = Number(r.w);
  const items = r.page_items.items;
  if (!windows.has(w)) windows.set(w, []);
  windows.get(w).push(items);
}
var dbs = [...windows.values()].map((s) => s.map((e) => sessionSequence(e)));
for (let rep = 0; rep < 10; rep++) {
  let t = performance.now();
  let n = 0;
  for (const d of dbs) forEachFrequentSequence(d, { minSupportCount: sequenceMinSupportCount(0.01, d.length), maxLength: 3 }, () => n++);
  console.log("core", (performance.now() - t).toFixed(0), n);
}
