// bench/stages.ts
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join as join2 } from "node:path";

// src/config/load.ts
import { isMap as isMap3, LineCounter, parseDocument } from "yaml";

// src/config/env.ts
import { isMap, isPair, isScalar, isSeq, Scalar } from "yaml";

// src/config/errors.ts
function formatPath(path) {
  let text = "";
  for (const segment2 of path) {
    if (typeof segment2 === "number") text += `[${segment2}]`;
    else text += text === "" ? String(segment2) : `.${String(segment2)}`;
  }
  return text;
}

// src/config/env.ts
var VARIABLE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
function expandVariables(text, env) {
  const missing = [];
  const expanded = text.replace(VARIABLE, (whole, name, fallback) => {
    if (name === void 0) return "${";
    const value = env[name];
    if (fallback !== void 0) return value === void 0 || value === "" ? fallback : value;
    if (value === void 0) {
      missing.push(name);
      return whole;
    }
    return value;
  });
  return missing.length > 0 ? { ok: false, missing } : { ok: true, text: expanded };
}
function expandDocument(doc, lineCounter, env) {
  const errors = [];
  const visit = (node, path) => {
    if (isMap(node)) {
      for (const pair of [...node.items]) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (isScalar(pair.value) && expandScalar(pair.value, [...path, key]) === "omit") node.items.splice(node.items.indexOf(pair), 1);
        else visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => isScalar(item) ? expandScalar(item, [...path, index]) : visit(item, [...path, index]));
    } else if (isPair(node)) {
      visit(node.value, path);
    }
  };
  const expandScalar = (scalar, path) => {
    if (typeof scalar.value !== "string" || !scalar.value.includes("${")) return "keep";
    const expansion = expandVariables(scalar.value, env);
    if (!expansion.ok) {
      const position = scalar.range ? lineCounter.linePos(scalar.range[0]) : void 0;
      for (const name of expansion.missing) {
        errors.push({
          path: formatPath(path),
          line: position?.line,
          column: position?.col,
          message: `environment variable ${name} is not set`,
          hint: `Set ${name}, or give a default: \${${name}:-value}.`
        });
      }
      return "keep";
    }
    const plain = scalar.type === Scalar.PLAIN || scalar.type === void 0;
    if (plain && expansion.text === "") return "omit";
    scalar.value = plain ? typedPlainScalar(expansion.text) : expansion.text;
    return "keep";
  };
  visit(doc.contents, []);
  return errors;
}
function typedPlainScalar(text) {
  if (/^[-+]?(?:\d+|\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(text)) return Number(text);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^(?:true|True|TRUE)$/.test(text)) return true;
  if (/^(?:false|False|FALSE)$/.test(text)) return false;
  return text;
}

// src/config/did-you-mean.ts
function editDistance(a, b) {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let i = 1; i <= left.length; i++) {
    const current = [i];
    for (let j = 1; j <= right.length; j++) {
      const substitution = previous[j - 1] + (left[i - 1] === right[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[right.length];
}
function closestMatch(word, candidates) {
  let best;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

// src/config/duration.ts
import { z } from "zod";
var UNIT_MS = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 };
var DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
function parseDuration(text) {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return void 0;
  return Math.round(Number(match[1]) * UNIT_MS[match[2]]);
}
function formatDuration(ms) {
  for (const unit of ["d", "h", "m", "s"]) {
    if (ms !== 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
function durationSchema() {
  return z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === void 0) {
      ctx.addIssue({ code: "custom", message: `expected a duration like "30m" (units ms, s, m, h, d), got "${text}"` });
      return z.NEVER;
    }
    return ms;
  });
}
function duration(defaultValue) {
  const schema = durationSchema();
  return defaultValue === void 0 ? schema : schema.prefault(defaultValue);
}

// src/config/schema-walk.ts
var WRAPPERS = /* @__PURE__ */ new Set(["optional", "default", "prefault", "nullable", "readonly", "catch", "nonoptional"]);
function definition(schema) {
  return schema._zod.def;
}
function unwrap(schema) {
  let current = schema;
  while (WRAPPERS.has(definition(current).type)) current = definition(current).innerType;
  return current;
}
function descriptionOf(schema) {
  let current = schema;
  while (current !== void 0) {
    const text = current.description;
    if (text !== void 0) return text;
    const def = definition(current);
    current = WRAPPERS.has(def.type) ? def.innerType : void 0;
  }
  return void 0;
}
function shapeOf(schema) {
  const inner = unwrap(schema);
  return definition(inner).type === "object" ? definition(inner).shape : void 0;
}
function allowedKeys(schema) {
  return Object.keys(shapeOf(schema) ?? {});
}
function literalValues(schema) {
  const inner = unwrap(schema);
  const def = definition(inner);
  return def.type === "literal" ? def.values : [];
}
function discriminatorOf(schema) {
  if (schema === void 0) return void 0;
  const def = definition(unwrap(schema));
  if (def.type !== "union" || typeof def.discriminator !== "string") return void 0;
  const key = def.discriminator;
  const values = def.options.flatMap((option) => literalValues(shapeOf(option)?.[key] ?? option));
  return { key, values };
}
function branchFor(schema, value) {
  const inner = unwrap(schema);
  const def = definition(inner);
  if (def.type !== "union") return inner;
  const options = def.options;
  if (typeof def.discriminator === "string") {
    const tag = isRecord(value) ? value[def.discriminator] : void 0;
    return options.find((option) => literalValues(shapeOf(option)?.[def.discriminator] ?? option).includes(tag));
  }
  const wanted = Array.isArray(value) ? "array" : isRecord(value) ? "object" : "scalar";
  return options.find((option) => kindOf(unwrap(option)) === wanted) ?? options[0];
}
function kindOf(schema) {
  const type = definition(schema).type;
  return type === "array" ? "array" : type === "object" ? "object" : "scalar";
}
function childSchema(schema, key, parentValue) {
  const branch = branchFor(schema, parentValue);
  if (branch === void 0) return void 0;
  const def = definition(branch);
  if (def.type === "array") return def.element;
  if (def.type === "object") return def.shape[String(key)];
  return void 0;
}
function schemaAt(root, path, input) {
  let schema = root;
  let value = input;
  for (const key of path) {
    if (schema === void 0) return void 0;
    schema = childSchema(schema, key, value);
    value = isRecord(value) || Array.isArray(value) ? value[key] : void 0;
  }
  return schema;
}
function objectSchemaFor(schema, value) {
  return branchFor(schema, value);
}
function isDurationValue(schema, ms) {
  if (typeof ms !== "number") return false;
  const inner = unwrap(schema);
  const def = definition(inner);
  if (def.type !== "pipe") return false;
  if (definition(def.in).type !== "string" || definition(def.out).type !== "transform") return false;
  const parsed = inner.safeParse(formatDuration(ms));
  return parsed.success && parsed.data === ms;
}
function durationsIn(schema, value, path = []) {
  if (isDurationValue(schema, value)) return [{ path, ms: value }];
  const found = [];
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      const child = childSchema(schema, index, value);
      if (child !== void 0) found.push(...durationsIn(child, item, [...path, index]));
    });
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) {
      const child = childSchema(schema, key, value);
      if (child !== void 0) found.push(...durationsIn(child, item, [...path, key]));
    }
  }
  return found;
}
function isRecord(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// src/config/issues.ts
function issueToErrors(issue, context) {
  return explain(issue, context).map(({ at, ...error }) => {
    const { line, column } = context.locate(at);
    return { ...error, line, column };
  });
}
function explain(issue, context) {
  const path = issue.path;
  const raw = valueAt(context.input, path);
  const keyHint = descriptionOf(schemaAt(context.schema, path, context.input));
  const single = (message, hint) => [{ path: formatPath(path), at: path, message, hint }];
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => unknownKey(path, key, context));
    case "invalid_type":
      if (!hasKey(context.input, path)) return single(`missing required key "${String(path[path.length - 1])}"`, keyHint);
      return single(`expected ${expectedText(issue.expected)}, got ${valueText(raw)}`, keyHint);
    case "invalid_union": {
      const discriminator = "discriminator" in issue && typeof issue.discriminator === "string" ? issue.discriminator : void 0;
      if (discriminator !== void 0) return unknownType(issue.path, raw, (issue.options ?? []).map(String), context);
      const closest = closestBranchIssues(issue.errors);
      if (closest !== void 0) return closest.flatMap((inner) => explain({ ...inner, path: [...path, ...inner.path] }, context));
      return single(`${valueText(raw)} is not one of the allowed forms`, keyHint);
    }
    case "invalid_value": {
      const allowed = issue.values.map((value) => JSON.stringify(value));
      const suggestion = typeof raw === "string" ? closestMatch(raw, issue.values.map(String)) : void 0;
      return single(`expected ${oneOf(allowed)}, got ${valueText(raw)}`, didYouMean(suggestion) ?? keyHint);
    }
    case "too_small":
      return single(tooSmallText(issue, raw), keyHint);
    case "too_big":
      return single(tooBigText(issue, raw), keyHint);
    case "custom": {
      const hint = issue.params?.hint;
      return single(issue.message, hint ?? keyHint);
    }
    default:
      return single(issue.message, keyHint);
  }
}
function closestBranchIssues(branches) {
  return branches.find((issues) => issues.length > 0 && issues.every((inner) => inner.path.length > 0 || inner.code === "unrecognized_keys"));
}
function unknownKey(parentPath, key, context) {
  const parentSchema = schemaAt(context.schema, parentPath, context.input);
  const parentValue = valueAt(context.input, parentPath);
  const branch = parentSchema === void 0 ? void 0 : objectSchemaFor(parentSchema, parentValue);
  const allowed = branch === void 0 ? [] : allowedKeys(branch);
  const path = [...parentPath, key];
  const suggestion = closestMatch(key, allowed);
  const listing = allowed.length > 0 ? `Allowed keys${where(parentPath)}: ${allowed.join(", ")}.` : void 0;
  return { path: formatPath(path), at: path, message: `unknown key "${key}"`, hint: joinHints(didYouMean(suggestion), listing) };
}
function unknownType(path, raw, options, context) {
  const types = options.length > 0 ? options : (discriminatorOf(schemaAt(context.schema, path.slice(0, -1), context.input))?.values ?? []).map(String);
  const listing = `Types: ${types.join(", ")}.`;
  const at = hasKey(context.input, path) ? path : path.slice(0, -1);
  if (raw === void 0) return [{ path: formatPath(path), at, message: `missing required key "${String(path[path.length - 1])}"`, hint: listing }];
  const suggestion = typeof raw === "string" ? closestMatch(raw, types) : void 0;
  return [{ path: formatPath(path), at, message: `unknown type ${valueText(raw)}`, hint: joinHints(didYouMean(suggestion), listing) }];
}
function tooSmallText(issue, raw) {
  const minimum = Number(issue.minimum);
  if (issue.origin === "array") return `needs at least ${minimum} ${minimum === 1 ? "entry" : "entries"}`;
  if (issue.origin === "string") return minimum === 1 ? "must not be empty" : `needs at least ${minimum} characters`;
  return `must be ${issue.inclusive ? "at least" : "greater than"} ${minimum}, got ${valueText(raw)}`;
}
function tooBigText(issue, raw) {
  const maximum = Number(issue.maximum);
  if (issue.origin === "array") return `has more than ${maximum} entries`;
  if (issue.origin === "string") return `is longer than ${maximum} characters`;
  return `must be ${issue.inclusive ? "at most" : "less than"} ${maximum}, got ${valueText(raw)}`;
}
function expectedText(expected) {
  const names = {
    string: "text",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
    object: "a mapping (key: value lines)",
    array: "a list"
  };
  return names[expected] ?? expected;
}
function valueText(value) {
  if (value === void 0) return "nothing";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (isRecord(value)) return "a mapping";
  return JSON.stringify(value);
}
function oneOf(items) {
  return items.length === 1 ? items[0] : `one of ${items.join(", ")}`;
}
function where(path) {
  return path.length === 0 ? " at the top level" : ` in ${formatPath(path)}`;
}
function didYouMean(suggestion) {
  return suggestion === void 0 ? void 0 : `Did you mean "${suggestion}"?`;
}
function joinHints(...hints) {
  const present = hints.filter((hint) => hint !== void 0);
  return present.length > 0 ? present.join(" ") : void 0;
}
function valueAt(input, path) {
  let value = input;
  for (const key of path) {
    if (!isRecord(value) && !Array.isArray(value)) return void 0;
    value = value[key];
  }
  return value;
}
function hasKey(input, path) {
  if (path.length === 0) return true;
  const parent = valueAt(input, path.slice(0, -1));
  return (isRecord(parent) || Array.isArray(parent)) && Object.hasOwn(parent, path[path.length - 1]);
}

// src/config/pipeline.ts
import { z as z7 } from "zod";

// src/operators/basket.ts
import { z as z2 } from "zod";

// src/runtime/watermark.ts
function encodeTime(ms) {
  return Number.isFinite(ms) ? ms : String(ms);
}
function decodeTime(value) {
  return typeof value === "string" ? Number(value) : value;
}
var WatermarkTracker = class {
  #options;
  #partitions = /* @__PURE__ */ new Map();
  #current = -Infinity;
  constructor(options) {
    this.#options = options;
  }
  /** The watermark in epoch ms (−∞ before any event, +∞ after end of input). */
  get current() {
    return this.#current;
  }
  /** Records an event of `partition` and returns the (possibly advanced) watermark. */
  observe(partition, ts, receivedAt, now) {
    const ceiling = receivedAt === void 0 ? Infinity : receivedAt + this.#options.maxFutureSkew;
    const eventTime2 = ts > ceiling ? ceiling : ts;
    const clock = this.#partitions.get(partition);
    if (clock === void 0) {
      this.#partitions.set(partition, { maxEventTime: eventTime2, lastSeen: now });
    } else {
      if (eventTime2 > clock.maxEventTime) clock.maxEventTime = eventTime2;
      clock.lastSeen = now;
    }
    return this.#recompute(now);
  }
  /** Processing-time tick: partitions that went idle stop holding the watermark back. */
  tick(now) {
    return this.#recompute(now);
  }
  /** End of input: every window may close. */
  advanceToEnd() {
    this.#current = Infinity;
    return this.#current;
  }
  snapshot() {
    const partitions = [];
    for (const [partition, clock] of this.#partitions) partitions.push([partition, clock.maxEventTime]);
    return { current: encodeTime(this.#current), partitions };
  }
  restore(snapshot) {
    this.#current = decodeTime(snapshot.current);
    this.#partitions.clear();
    for (const [partition, maxEventTime] of snapshot.partitions) this.#partitions.set(partition, { maxEventTime, lastSeen: null });
  }
  #recompute(now) {
    let activeMin = Infinity;
    let overallMax = -Infinity;
    let anyActive = false;
    for (const clock of this.#partitions.values()) {
      if (clock.lastSeen === null) clock.lastSeen = now;
      if (clock.maxEventTime > overallMax) overallMax = clock.maxEventTime;
      if (now - clock.lastSeen < this.#options.idleTimeout) {
        anyActive = true;
        if (clock.maxEventTime < activeMin) activeMin = clock.maxEventTime;
      }
    }
    const candidate = (anyActive ? activeMin : overallMax) - this.#options.outOfOrderness;
    if (candidate > this.#current) this.#current = candidate;
    return this.#current;
  }
};

// src/events/time.ts
var MAX_EPOCH_MS = 864e13;
var DIGIT_0 = 48;
var DIGIT_9 = 57;
function parseEventTime(value) {
  if (typeof value === "number") {
    if (!(value >= 0 && value <= MAX_EPOCH_MS)) return void 0;
    return Math.trunc(value);
  }
  if (typeof value !== "string") return void 0;
  const length = value.length;
  if (length === 0) return void 0;
  if (length <= 16 && isAllDigits(value)) {
    const epochMs = Number(value);
    return epochMs <= MAX_EPOCH_MS ? epochMs : void 0;
  }
  return parseIsoWithOffset(value);
}
function isAllDigits(text) {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < DIGIT_0 || code > DIGIT_9) return false;
  }
  return true;
}
function digitsAt(text, at, count) {
  if (at + count > text.length) return -1;
  let result = 0;
  for (let i = at; i < at + count; i++) {
    const code = text.charCodeAt(i);
    if (code < DIGIT_0 || code > DIGIT_9) return -1;
    result = result * 10 + (code - DIGIT_0);
  }
  return result;
}
function daysInMonth(year, month) {
  if (month === 2) return year % 4 === 0 && year % 100 !== 0 || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
function parseIsoWithOffset(text) {
  const year = digitsAt(text, 0, 4);
  if (year < 1969 || text.charCodeAt(4) !== 45) return void 0;
  const month = digitsAt(text, 5, 2);
  if (month < 1 || month > 12 || text.charCodeAt(7) !== 45) return void 0;
  const day = digitsAt(text, 8, 2);
  if (day < 1 || day > daysInMonth(year, month)) return void 0;
  const separator = text.charCodeAt(10);
  if (separator !== 84 && separator !== 116 && separator !== 32) return void 0;
  const hour = digitsAt(text, 11, 2);
  if (hour < 0 || hour > 23 || text.charCodeAt(13) !== 58) return void 0;
  const minute = digitsAt(text, 14, 2);
  if (minute < 0 || minute > 59) return void 0;
  let at = 16;
  let second = 0;
  let millisecond = 0;
  if (text.charCodeAt(at) === 58) {
    second = digitsAt(text, at + 1, 2);
    if (second < 0 || second > 60) return void 0;
    at += 3;
    if (text.charCodeAt(at) === 46 || text.charCodeAt(at) === 44) {
      at++;
      const fractionStart = at;
      while (at < text.length && text.charCodeAt(at) >= DIGIT_0 && text.charCodeAt(at) <= DIGIT_9) at++;
      const fractionLength = at - fractionStart;
      if (fractionLength === 0) return void 0;
      const kept = Math.min(fractionLength, 3);
      millisecond = digitsAt(text, fractionStart, kept) * (kept === 1 ? 100 : kept === 2 ? 10 : 1);
    }
  }
  const offsetMinutes = parseOffset(text, at);
  if (offsetMinutes === void 0) return void 0;
  const epochMs = daysFromCivil(year, month, day) * 864e5 + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1e3 + millisecond;
  if (!(epochMs >= 0 && epochMs <= MAX_EPOCH_MS)) return void 0;
  return epochMs;
}
function daysFromCivil(year, month, day) {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}
function parseOffset(text, at) {
  const sign = text.charCodeAt(at);
  const rest = text.length - at;
  if (sign === 90 || sign === 122) return rest === 1 ? 0 : void 0;
  if (sign !== 43 && sign !== 45 && sign !== 8722) return void 0;
  const hours = digitsAt(text, at + 1, 2);
  if (hours < 0 || hours > 23) return void 0;
  let minutes = 0;
  if (rest === 3) minutes = 0;
  else if (rest === 6 && text.charCodeAt(at + 3) === 58) minutes = digitsAt(text, at + 4, 2);
  else if (rest === 5) minutes = digitsAt(text, at + 3, 2);
  else return void 0;
  if (minutes < 0 || minutes > 59) return void 0;
  const total = hours * 60 + minutes;
  return sign === 43 ? total : -total;
}
var TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, "0"));
var THREE_DIGITS = Array.from({ length: 1e3 }, (_, i) => String(i).padStart(3, "0"));
var DAY_MS = 864e5;
var cachedDay = Number.NaN;
var cachedDayPrefix = "";
function formatIsoUtc(epochMs) {
  if (!(epochMs >= 0 && epochMs < 2534023008e5) || !Number.isInteger(epochMs)) return new Date(epochMs).toISOString();
  const day = Math.floor(epochMs / DAY_MS);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDayPrefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
  }
  let rest = epochMs - day * DAY_MS;
  const millisecond = rest % 1e3;
  rest = (rest - millisecond) / 1e3;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;
  return `${cachedDayPrefix}${TWO_DIGITS[hour]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[second]}.${THREE_DIGITS[millisecond]}Z`;
}
var cachedUtcDay = Number.NaN;
var cachedUtcDayText = "";
function formatUtcDay(epochMs) {
  const day = Math.floor(epochMs / DAY_MS);
  if (day === cachedUtcDay) return cachedUtcDayText;
  const text = new Date(epochMs).toISOString().slice(0, 10);
  if (epochMs >= 0 && epochMs < 2534023008e5) {
    cachedUtcDay = day;
    cachedUtcDayText = text;
  }
  return text;
}

// src/operators/mining/itemset-sequence.ts
var PATTERN_STEP_SEPARATOR = " > ";
var DEFAULT_ITEM_JOIN = " ";
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

// src/operators/mining/association-rules.ts
var ANTECEDENT_SEPARATOR = " & ";
function associationRules(itemsets, transactionCount, minConfidence) {
  const countOf = /* @__PURE__ */ new Map();
  for (const { items, count } of itemsets) countOf.set(itemsetKey(items), count);
  const rules = [];
  for (const { items, count } of itemsets) {
    if (items.length < 2) continue;
    for (let drop = 0; drop < items.length; drop += 1) {
      const antecedent = items.filter((_, index) => index !== drop);
      const consequent = items[drop];
      const confidence = count / countOf.get(itemsetKey(antecedent));
      if (confidence < minConfidence) continue;
      const consequentSupport = countOf.get(consequent) / transactionCount;
      rules.push({ antecedent, consequent, support: count / transactionCount, confidence, lift: confidence / consequentSupport, count });
    }
  }
  return rules.sort(byStrength);
}
function crossSellLists(rules, top) {
  const byProduct = /* @__PURE__ */ new Map();
  for (const rule of rules) {
    if (rule.antecedent.length !== 1) continue;
    const product = rule.antecedent[0];
    const list = byProduct.get(product);
    if (list === void 0) byProduct.set(product, [rule]);
    else list.push(rule);
  }
  const lists = [];
  for (const product of [...byProduct.keys()].sort(compareItems)) {
    const ranked = byProduct.get(product).sort(byStrength).slice(0, top);
    ranked.forEach(
      (rule, index) => lists.push({ product, rank: index + 1, recommended: rule.consequent, lift: rule.lift, confidence: rule.confidence, support: rule.support })
    );
  }
  return lists;
}
function formatAntecedent(antecedent) {
  return antecedent.join(ANTECEDENT_SEPARATOR);
}
function itemsetKey(items) {
  return typeof items === "string" ? items : items.join("\0");
}
function byStrength(a, b) {
  return b.lift - a.lift || b.confidence - a.confidence || b.support - a.support || compareItems(formatAntecedent(a.antecedent), formatAntecedent(b.antecedent)) || compareItems(a.consequent, b.consequent);
}

// src/operators/mining/min-support.ts
function sequenceMinSupportCount(minSupport, sequenceCount) {
  if (minSupport >= 1) return Math.ceil(minSupport);
  return Math.max(1, Math.ceil(minSupport * sequenceCount));
}
function itemsetMinSupportCount(minSupport, transactionCount) {
  if (transactionCount === 0) return 1;
  let count = Math.max(1, Math.ceil(minSupport * transactionCount));
  while (count > 1 && (count - 1) / transactionCount >= minSupport) count -= 1;
  while (count / transactionCount < minSupport) count += 1;
  return count;
}

// src/operators/mining/fp-growth.ts
var FpTree = class {
  item = [-1];
  count = [0];
  parent = [-1];
  nextSameItem = [-1];
  headOf = /* @__PURE__ */ new Map();
  itemTotal = /* @__PURE__ */ new Map();
  childOf = /* @__PURE__ */ new Map();
  /** `itemSpace`: one more than the highest rank, so node × itemSpace + rank keys a child uniquely. */
  itemSpace;
  constructor(itemSpace) {
    this.itemSpace = itemSpace;
  }
  insert(ranks, count) {
    let node = 0;
    for (const rank2 of ranks) {
      const key = node * this.itemSpace + rank2;
      let child = this.childOf.get(key);
      if (child === void 0) {
        child = this.item.length;
        this.item.push(rank2);
        this.count.push(0);
        this.parent.push(node);
        this.nextSameItem.push(this.headOf.get(rank2) ?? -1);
        this.headOf.set(rank2, child);
        this.childOf.set(key, child);
      }
      this.count[child] += count;
      this.itemTotal.set(rank2, (this.itemTotal.get(rank2) ?? 0) + count);
      node = child;
    }
  }
  /** Paths from the root down to (excluding) each node of `rank`, weighted by that node's count. */
  prefixPaths(rank2) {
    const paths = [];
    for (let node = this.headOf.get(rank2) ?? -1; node >= 0; node = this.nextSameItem[node]) {
      const ranks = [];
      for (let up = this.parent[node]; up > 0; up = this.parent[up]) ranks.push(this.item[up]);
      if (ranks.length > 0) paths.push({ ranks: ranks.reverse(), count: this.count[node] });
    }
    return paths;
  }
};
function fpGrowth(transactions, options) {
  const transactionCount = transactions.length;
  const minCount = itemsetMinSupportCount(options.minSupport, transactionCount);
  const maxLength = options.maxLength ?? Number.POSITIVE_INFINITY;
  const itemCounts = /* @__PURE__ */ new Map();
  const distinctPerTransaction = transactions.map((items) => [...new Set(items)]);
  for (const items of distinctPerTransaction) for (const item of items) itemCounts.set(item, (itemCounts.get(item) ?? 0) + 1);
  const ranked = [...itemCounts].filter(([, count]) => count >= minCount).sort((a, b) => b[1] - a[1] || compareItems(a[0], b[0])).map(([item]) => item);
  const rankOf = new Map(ranked.map((item, rank2) => [item, rank2]));
  const tree = new FpTree(ranked.length);
  for (const items of distinctPerTransaction) {
    const ranks = items.flatMap((item) => rankOf.has(item) ? [rankOf.get(item)] : []).sort((a, b) => a - b);
    if (ranks.length > 0) tree.insert(ranks, 1);
  }
  const itemsets = [];
  if (maxLength >= 1) mine(tree, [], minCount, maxLength, ranked, itemsets);
  return { transactionCount, minCount, itemsets };
}
function mine(tree, suffix, minCount, maxLength, names, out) {
  for (const [rank2, total] of tree.itemTotal) {
    if (total < minCount) continue;
    const itemset = [rank2, ...suffix];
    out.push({ items: itemset.map((r) => names[r]).sort(compareItems), count: total });
    if (itemset.length >= maxLength) continue;
    const conditional = conditionalTree(tree.prefixPaths(rank2), minCount, names.length);
    if (conditional.itemTotal.size > 0) mine(conditional, itemset, minCount, maxLength, names, out);
  }
}
function conditionalTree(paths, minCount, itemSpace) {
  const totals = /* @__PURE__ */ new Map();
  for (const { ranks, count } of paths) for (const rank2 of ranks) totals.set(rank2, (totals.get(rank2) ?? 0) + count);
  const tree = new FpTree(itemSpace);
  for (const { ranks, count } of paths) {
    const kept = ranks.filter((rank2) => totals.get(rank2) >= minCount);
    if (kept.length > 0) tree.insert(kept, count);
  }
  return tree;
}

// src/operators/basket.ts
var basketConfig = z2.strictObject({
  type: z2.literal("basket"),
  window: duration("1d").describe("Tumbling window of orders, aligned to the UTC epoch."),
  item: z2.enum(["sku", "category"]).default("sku").describe("Which purchase item field is the basket item."),
  minSupport: z2.number().positive().max(1).default(0.01).describe("Minimum itemset support (count / orders)."),
  minConfidence: z2.number().min(0).max(1).default(0.5).describe("Minimum rule confidence."),
  maxLength: z2.number().int().min(2).max(10).default(4).describe("Items in the whole rule (antecedent + consequent)."),
  crossSellTop: z2.number().int().positive().default(5).describe("Consequents kept per product in `cross_sell`."),
  outOfOrderness: duration("1m").describe("Watermark = max event time minus this."),
  allowedLateness: duration("1h").describe("A window closes when the watermark passes its end + this."),
  idleTimeout: duration("1m").describe("A partition silent this long (processing time) stops holding the watermark back."),
  maxFutureSkew: duration("5m").describe("An event cannot push the watermark past its received_at + this.")
}).describe("Mines association rules from purchase baskets per window; writes `basket_rules` and `cross_sell`.");
var basketExample = { type: "basket", window: "1d", minSupport: 0.01, minConfidence: 0.5 };
var windowStartOf = (row) => formatUtcDay(row.window_start);
var basketRulesTable = {
  name: "basket_rules",
  columns: [
    { name: "window_start", type: "timestamp", nullable: false },
    { name: "window_end", type: "timestamp", nullable: false },
    { name: "antecedent", type: "string", nullable: false },
    { name: "consequent", type: "string", nullable: false },
    { name: "support", type: "float64", nullable: false },
    { name: "confidence", type: "float64", nullable: false },
    { name: "lift", type: "float64", nullable: false },
    { name: "orders", type: "int64", nullable: false }
  ],
  partitionKey: "dt",
  partitionOf: windowStartOf
};
var crossSellTable = {
  name: "cross_sell",
  columns: [
    { name: "window_start", type: "timestamp", nullable: false },
    { name: "window_end", type: "timestamp", nullable: false },
    { name: "product", type: "string", nullable: false },
    { name: "rank", type: "int32", nullable: false },
    { name: "recommended", type: "string", nullable: false },
    { name: "lift", type: "float64", nullable: false },
    { name: "confidence", type: "float64", nullable: false },
    { name: "support", type: "float64", nullable: false }
  ],
  partitionKey: "dt",
  partitionOf: windowStartOf
};
var BasketOperator = class {
  id = "basket";
  tables = [basketRulesTable, crossSellTable];
  config;
  tracker;
  windows = /* @__PURE__ */ new Map();
  itemChars = 0;
  constructor(config) {
    this.config = config;
    this.tracker = new WatermarkTracker({
      outOfOrderness: config.outOfOrderness,
      idleTimeout: config.idleTimeout,
      maxFutureSkew: config.maxFutureSkew
    });
  }
  watermark() {
    return this.tracker.current;
  }
  onEvent(event, origin, ctx) {
    if (event.type === "purchase") this.addPurchase(event, ctx);
    const before2 = this.tracker.current;
    const after = this.tracker.observe(origin.partition, event.ts, event.received_at, ctx.now());
    if (after > before2) this.closeSettledWindows(ctx);
  }
  onTick(ctx) {
    const before2 = this.tracker.current;
    if (this.tracker.tick(ctx.now()) > before2) this.closeSettledWindows(ctx);
  }
  onEnd(ctx) {
    this.tracker.advanceToEnd();
    this.closeSettledWindows(ctx);
  }
  snapshot() {
    return { watermark: this.tracker.snapshot(), windows: [...this.windows].map(([start, orders]) => [start, [...orders]]) };
  }
  restore(state) {
    const snapshot = state;
    this.tracker.restore(snapshot.watermark);
    this.windows.clear();
    this.itemChars = 0;
    for (const [start, orders] of snapshot.windows) {
      this.windows.set(start, new Map(orders));
      for (const [id, items] of orders) this.itemChars += id.length + items.reduce((sum, item) => sum + item.length, 0);
    }
  }
  stateBytes() {
    let orders = 0;
    for (const window of this.windows.values()) orders += window.size;
    return orders * 96 + this.itemChars * 2;
  }
  addPurchase(event, ctx) {
    const start = Math.floor(event.ts / this.config.window) * this.config.window;
    const watermark = this.tracker.current;
    if (this.isClosed(start, watermark)) {
      ctx.late(event, watermark, "window_closed");
      return;
    }
    const items = basketItems(event, this.config.item);
    if (items.length === 0) return;
    let orders = this.windows.get(start);
    if (orders === void 0) {
      orders = /* @__PURE__ */ new Map();
      this.windows.set(start, orders);
    }
    const orderId = event.order_id ?? event.event_id;
    if (orders.has(orderId)) {
      ctx.metrics.eventsDuplicate.inc();
      return;
    }
    orders.set(orderId, items);
    this.itemChars += orderId.length + items.reduce((sum, item) => sum + item.length, 0);
  }
  isClosed(start, watermark) {
    return start + this.config.window + this.config.allowedLateness <= watermark;
  }
  closeSettledWindows(ctx) {
    const watermark = this.tracker.current;
    if (!this.anyWindowClosed(watermark)) return;
    const settled = [...this.windows.keys()].filter((start) => this.isClosed(start, watermark)).sort((a, b) => a - b);
    for (const start of settled) {
      const orders = this.windows.get(start);
      this.windows.delete(start);
      for (const [id, items] of orders) this.itemChars -= id.length + items.reduce((sum, item) => sum + item.length, 0);
      this.emitWindow(start, [...orders.values()], ctx);
    }
  }
  anyWindowClosed(watermark) {
    for (const start of this.windows.keys()) if (this.isClosed(start, watermark)) return true;
    return false;
  }
  emitWindow(start, baskets, ctx) {
    const end = start + this.config.window;
    const { itemsets, transactionCount } = fpGrowth(baskets, { minSupport: this.config.minSupport, maxLength: this.config.maxLength });
    const rules = associationRules(itemsets, transactionCount, this.config.minConfidence);
    for (const rule of rules) {
      ctx.emit(basketRulesTable.name, {
        window_start: start,
        window_end: end,
        antecedent: formatAntecedent(rule.antecedent),
        consequent: rule.consequent,
        support: rule.support,
        confidence: rule.confidence,
        lift: rule.lift,
        orders: rule.count
      });
    }
    for (const entry2 of crossSellLists(rules, this.config.crossSellTop)) {
      ctx.emit(crossSellTable.name, { window_start: start, window_end: end, ...entry2 });
    }
  }
};
function basketItems(event, field) {
  const items = /* @__PURE__ */ new Set();
  for (const item of event.items ?? []) {
    const value = item[field];
    if (typeof value === "string" && value !== "") items.add(value);
  }
  return [...items];
}
function createBasket(config, _environment) {
  return new BasketOperator(config);
}

// src/operators/churn-features.ts
import { z as z3 } from "zod";

// src/sinks/table.ts
function utcDay(epochMs) {
  return new Date(epochMs).toISOString().slice(0, 10);
}

// src/sinks/system-tables.ts
var invalidEventsTable = {
  name: "invalid_events",
  columns: [
    { name: "received_at", type: "timestamp", nullable: false },
    { name: "reason", type: "string", nullable: false },
    { name: "raw", type: "string", nullable: false }
  ],
  partitionKey: "dt",
  partitionOf: (row) => utcDay(row.received_at)
};
var eventColumns = [
  { name: "event_id", type: "string", nullable: false },
  { name: "type", type: "string", nullable: false },
  { name: "ts", type: "timestamp", nullable: false },
  { name: "anon_id", type: "string" },
  { name: "user_id", type: "string" },
  { name: "site_id", type: "string" },
  { name: "received_at", type: "timestamp" }
];
var lateEventsTable = {
  name: "late_events",
  columns: [
    ...eventColumns,
    { name: "watermark_at_arrival", type: "timestamp", nullable: false },
    { name: "reason", type: "string", nullable: false },
    { name: "operator", type: "string", nullable: false },
    { name: "event", type: "string", nullable: false }
  ],
  partitionKey: "dt",
  partitionOf: (row) => utcDay(row.ts)
};
var botsTable = {
  name: "bots",
  columns: [...eventColumns, { name: "reason", type: "string" }, { name: "event", type: "string", nullable: false }],
  partitionKey: "dt",
  partitionOf: (row) => utcDay(row.ts)
};
function eventFields(event) {
  return {
    event_id: event.event_id,
    type: event.type,
    ts: event.ts,
    anon_id: event.anon_id ?? null,
    user_id: event.user_id ?? null,
    site_id: event.site_id ?? null,
    received_at: event.received_at ?? null
  };
}
function lateEventRow(event, watermarkAtArrival, reason, operator) {
  const row = eventFields(event);
  row.watermark_at_arrival = watermarkAtArrival;
  row.reason = reason;
  row.operator = operator;
  row.event = JSON.stringify(event);
  return row;
}
function botEventRow(event, reason) {
  const row = eventFields(event);
  row.reason = reason;
  row.event = JSON.stringify(event);
  return row;
}

// src/runtime/pipeline.ts
var SUCCESS_MARKER_TABLE = "_SUCCESS";
var Pipeline = class {
  operators;
  eventConsumers;
  sessionConsumers;
  tickConsumers;
  sink;
  metrics;
  dropBots;
  /** One context per operator, so late rows can say which operator found them late. */
  contexts;
  constructor(options) {
    this.operators = [...options.operators].sort((a, b) => rank(a) - rank(b));
    this.eventConsumers = this.operators.filter((op) => op.onEvent !== void 0);
    this.sessionConsumers = this.operators.filter((op) => op.onSession !== void 0 || op.onSessionWatermark !== void 0);
    this.tickConsumers = this.operators.filter((op) => op.onTick !== void 0);
    this.sink = options.sink;
    this.metrics = options.metrics;
    this.dropBots = options.bots === "drop";
    const now = options.now ?? Date.now;
    this.contexts = new Map(this.operators.map((op) => [op, this.contextFor(op.id, now)]));
  }
  /** Every table any operator writes. */
  tables() {
    return this.operators.flatMap((op) => op.tables);
  }
  /** One valid event, in stream order. */
  processEvent(event, origin) {
    this.metrics.eventsProcessed.inc();
    if (this.dropBots && event.is_bot === true) {
      this.sink.append("bots", botEventRow(event, "bot (ingest.bots: drop)"));
      this.metrics.eventsFiltered.inc();
      return;
    }
    for (const op of this.eventConsumers) op.onEvent(event, origin, this.contexts.get(op));
  }
  tick() {
    for (const op of this.tickConsumers) op.onTick(this.contexts.get(op));
  }
  /** End of input: watermark to +∞ everywhere, every window and snapshot flushed. */
  end() {
    for (const op of this.operators) op.onEnd(this.contexts.get(op));
  }
  snapshot() {
    const state = {};
    for (const op of this.operators) state[op.id] = op.snapshot();
    return state;
  }
  restore(state) {
    for (const op of this.operators) {
      if (state[op.id] !== void 0) op.restore(state[op.id]);
    }
  }
  stateBytes() {
    let total = 0;
    for (const op of this.operators) total += op.stateBytes?.() ?? 0;
    return total;
  }
  contextFor(operatorId, now) {
    const sink = this.sink;
    const metrics = this.metrics;
    const context = {
      emit: (table, row) => {
        if (table === SUCCESS_MARKER_TABLE) sink.markSuccess(String(row.table), String(row.partition));
        else sink.append(table, row);
      },
      late: (event, watermarkAtArrival, reason) => {
        metrics.eventsLate.inc();
        sink.append("late_events", lateEventRow(event, watermarkAtArrival, reason, operatorId));
      },
      emitSession: (session) => {
        for (const op of this.sessionConsumers) op.onSession?.(session, this.contexts.get(op));
      },
      emitSessionWatermark: (watermark) => {
        for (const op of this.sessionConsumers) op.onSessionWatermark?.(watermark, this.contexts.get(op));
      },
      now,
      metrics
    };
    return context;
  }
};
function rank(op) {
  return op.id === "sessionize" ? 0 : 1;
}

// src/operators/churn-customer-store.ts
var DAY_MS2 = 864e5;
function dayOf(epochMs) {
  return Math.floor(epochMs / DAY_MS2);
}
var R_DAY = 0;
var R_SESSIONS = 1;
var R_PAGEVIEWS = 2;
var R_DURATION_MS = 3;
var R_CART_ADDS = 4;
var R_CART_SESSIONS = 5;
var R_ABANDONED = 6;
var RECENT_FIELDS = 7;
var OLDER_FIELDS = 2;
var DETAIL_DAYS = 30;
var SESSION_DAYS = 90;
var INT32_MAX = 2147483647;
var TYPED_ARRAY_OVERHEAD = 96;
var KEY_OVERHEAD = 80;
var COLUMNS = ["firstPurchaseTs", "lastPurchaseTs", "purchaseDays", "orders", "revenueMicros", "repeatRevenueMicros", "lastSessionDay"];
var CustomerStore = class _CustomerStore {
  #ids = [];
  #index = /* @__PURE__ */ new Map();
  #columns = {};
  #recent = [];
  #older = [];
  #idChars = 0;
  #bucketBytes = 0;
  constructor() {
    for (const name of COLUMNS) this.#columns[name] = new Float64Array(1024).fill(NaN);
  }
  get size() {
    return this.#ids.length;
  }
  idAt(slot) {
    return this.#ids[slot];
  }
  column(name) {
    return this.#columns[name];
  }
  /** The slot of a customer, created (with no purchases and no sessions) when new. */
  slotOf(customerId) {
    const existing = this.#index.get(customerId);
    if (existing !== void 0) return existing;
    const slot = this.#ids.length;
    if (slot === this.#columns.orders.length) this.#grow();
    this.#ids.push(customerId);
    this.#index.set(customerId, slot);
    this.#columns.purchaseDays[slot] = 0;
    this.#columns.orders[slot] = 0;
    this.#columns.revenueMicros[slot] = 0;
    this.#columns.repeatRevenueMicros[slot] = 0;
    this.#recent.push(null);
    this.#older.push(null);
    this.#idChars += customerId.length;
    return slot;
  }
  /** Adds one UTC day of purchases; days arrive in ascending order per customer (a repeated day merges). */
  addPurchaseDay(slot, day, orders, revenueMicros, minTs, maxTs) {
    const c = this.#columns;
    if (c.purchaseDays[slot] === 0) {
      c.firstPurchaseTs[slot] = minTs;
      c.lastPurchaseTs[slot] = maxTs;
      c.purchaseDays[slot] = 1;
    } else {
      const lastDay = dayOf(c.lastPurchaseTs[slot]);
      if (day > lastDay) c.purchaseDays[slot] += 1;
      if (day !== dayOf(c.firstPurchaseTs[slot])) c.repeatRevenueMicros[slot] += revenueMicros;
      if (minTs < c.firstPurchaseTs[slot]) c.firstPurchaseTs[slot] = minTs;
      if (maxTs > c.lastPurchaseTs[slot]) c.lastPurchaseTs[slot] = maxTs;
    }
    c.orders[slot] += orders;
    c.revenueMicros[slot] += revenueMicros;
  }
  addSession(slot, session) {
    const hasCart = session.cartAdds > 0;
    const record = this.#recentRecord(slot, session.day);
    const recent = this.#recent[slot];
    recent[record + R_SESSIONS] += 1;
    recent[record + R_PAGEVIEWS] += session.pageviews;
    recent[record + R_DURATION_MS] = Math.min(INT32_MAX, recent[record + R_DURATION_MS] + Math.round(session.durationMs));
    recent[record + R_CART_ADDS] += session.cartAdds;
    if (hasCart) recent[record + R_CART_SESSIONS] += 1;
    if (hasCart && !session.converted) recent[record + R_ABANDONED] += 1;
    const lastSessionDay = this.#columns.lastSessionDay;
    if (!(lastSessionDay[slot] >= session.day)) lastSessionDay[slot] = session.day;
  }
  /** Cart adds counted from add_to_cart events (pipelines without sessionize). */
  addCartAdds(slot, day, cartAdds) {
    const record = this.#recentRecord(slot, day);
    this.#recent[slot][record + R_CART_ADDS] += cartAdds;
  }
  /** Drops buckets that no window of a snapshot at `snapshotDay` or later can see, then sums the windows. */
  windowsAt(slot, snapshotDay, into) {
    this.#prune(slot, snapshotDay);
    into.sessions7d = 0;
    into.sessions30d = 0;
    into.sessions90d = 0;
    into.pageviews30d = 0;
    into.durationMs30d = 0;
    into.cartAdds30d = 0;
    into.cartSessions30d = 0;
    into.abandonedSessions30d = 0;
    const recent = this.#recent[slot];
    if (recent !== null) {
      for (let r = 0; r < recent.length; r += RECENT_FIELDS) {
        if (recent[r + R_DAY] > snapshotDay) continue;
        const sessions = recent[r + R_SESSIONS];
        if (recent[r + R_DAY] > snapshotDay - 7) into.sessions7d += sessions;
        into.sessions30d += sessions;
        into.pageviews30d += recent[r + R_PAGEVIEWS];
        into.durationMs30d += recent[r + R_DURATION_MS];
        into.cartAdds30d += recent[r + R_CART_ADDS];
        into.cartSessions30d += recent[r + R_CART_SESSIONS];
        into.abandonedSessions30d += recent[r + R_ABANDONED];
      }
    }
    into.sessions90d = into.sessions30d;
    const older = this.#older[slot];
    if (older !== null) for (let r = 0; r < older.length; r += OLDER_FIELDS) into.sessions90d += older[r + 1];
    return into;
  }
  /** Approximate retained bytes: columns, ids with their index entries, and day buckets. */
  bytes() {
    const columnBytes = COLUMNS.length * this.#columns.orders.byteLength;
    return columnBytes + this.#ids.length * KEY_OVERHEAD + this.#idChars * 2 + this.#bucketBytes;
  }
  toJSON() {
    const columns = {};
    for (const name of COLUMNS) {
      const values = new Array(this.size);
      const column = this.#columns[name];
      for (let i = 0; i < this.size; i++) values[i] = Number.isNaN(column[i]) ? null : column[i];
      columns[name] = values;
    }
    const plain = (buckets) => buckets === null ? null : Array.from(buckets);
    return { ids: [...this.#ids], columns, recent: this.#recent.map(plain), older: this.#older.map(plain) };
  }
  static fromJSON(json) {
    const store = new _CustomerStore();
    for (const id of json.ids) store.slotOf(id);
    for (const name of COLUMNS) {
      const column = store.#columns[name];
      json.columns[name].forEach((value, i) => column[i] = value === null ? NaN : value);
    }
    const typed = (buckets) => {
      if (buckets === null) return null;
      store.#bucketBytes += TYPED_ARRAY_OVERHEAD + buckets.length * 4;
      return Int32Array.from(buckets);
    };
    store.#recent = json.recent.map(typed);
    store.#older = json.older.map(typed);
    return store;
  }
  /** Offset of the record of `day` in the customer's recent buckets, appended when missing. */
  #recentRecord(slot, day) {
    const recent = this.#recent[slot];
    if (recent !== null) {
      for (let r = recent.length - RECENT_FIELDS; r >= 0; r -= RECENT_FIELDS) {
        if (recent[r + R_DAY] === day) return r;
        if (recent[r + R_DAY] < day) break;
      }
    }
    const length = recent === null ? 0 : recent.length;
    const grown = new Int32Array(length + RECENT_FIELDS);
    if (recent !== null) grown.set(recent);
    grown[length + R_DAY] = day;
    this.#replaceRecent(slot, grown);
    if (recent !== null && length > 0 && recent[length - RECENT_FIELDS + R_DAY] > day) sortRecords(grown, RECENT_FIELDS);
    for (let r = 0; r < grown.length; r += RECENT_FIELDS) if (grown[r + R_DAY] === day) return r;
    return length;
  }
  /** Moves recent records older than 30 days to the older list and drops older ones beyond 90 days. */
  #prune(slot, snapshotDay) {
    const recent = this.#recent[slot];
    const older = this.#older[slot];
    const detailFrom = snapshotDay - DETAIL_DAYS + 1;
    const sessionsFrom = snapshotDay - SESSION_DAYS + 1;
    const recentStale = recent !== null && recent[R_DAY] < detailFrom;
    const olderStale = older !== null && older[0] < sessionsFrom;
    if (!recentStale && !olderStale) return;
    const keptOlder = [];
    if (older !== null) {
      for (let r = 0; r < older.length; r += OLDER_FIELDS) {
        if (older[r] >= sessionsFrom) keptOlder.push(older[r], older[r + 1]);
      }
    }
    const keptRecent = [];
    if (recent !== null) {
      for (let r = 0; r < recent.length; r += RECENT_FIELDS) {
        const day = recent[r + R_DAY];
        if (day >= detailFrom) {
          for (let f = 0; f < RECENT_FIELDS; f++) keptRecent.push(recent[r + f]);
        } else if (day >= sessionsFrom && recent[r + R_SESSIONS] > 0) {
          keptOlder.push(day, recent[r + R_SESSIONS]);
        }
      }
    }
    this.#replaceRecent(slot, keptRecent.length === 0 ? null : Int32Array.from(keptRecent));
    this.#replaceOlder(slot, keptOlder.length === 0 ? null : Int32Array.from(keptOlder));
  }
  #replaceRecent(slot, next) {
    this.#bucketBytes += bucketBytes(next) - bucketBytes(this.#recent[slot]);
    this.#recent[slot] = next;
  }
  #replaceOlder(slot, next) {
    this.#bucketBytes += bucketBytes(next) - bucketBytes(this.#older[slot]);
    this.#older[slot] = next;
  }
  #grow() {
    for (const name of COLUMNS) {
      const old = this.#columns[name];
      const grown = new Float64Array(old.length * 2).fill(NaN);
      grown.set(old);
      this.#columns[name] = grown;
    }
  }
};
function bucketBytes(buckets) {
  return buckets === null ? 0 : TYPED_ARRAY_OVERHEAD + buckets.byteLength;
}
function sortRecords(records, fields) {
  const rows = [];
  for (let r = 0; r < records.length; r += fields) rows.push(Array.from(records.subarray(r, r + fields)));
  rows.sort((a, b) => a[0] - b[0]);
  rows.forEach((row, i) => records.set(row, i * fields));
}

// src/operators/churn-identity.ts
var ENTRY_OVERHEAD = 160;
var IdentityMap = class _IdentityMap {
  #mappings = /* @__PURE__ */ new Map();
  #chars = 0;
  /** Records that `anonId` is `userId` as of `ts`; ties on ts keep the larger user id, so the order of calls never matters. */
  apply(anonId, userId, ts) {
    const current = this.#mappings.get(anonId);
    if (current === void 0) {
      this.#mappings.set(anonId, { user: userId, ts });
      this.#chars += anonId.length + userId.length;
    } else if (ts > current.ts || ts === current.ts && userId > current.user) {
      this.#chars += userId.length - current.user.length;
      current.user = userId;
      current.ts = ts;
    }
  }
  resolve(anonId) {
    return this.#mappings.get(anonId)?.user;
  }
  /** Discard rule: a device not re-identified since `ts` is forgotten (bounded memory; see identityRetention). */
  evictBefore(ts) {
    for (const [anonId, mapping] of this.#mappings) {
      if (mapping.ts < ts) {
        this.#mappings.delete(anonId);
        this.#chars -= anonId.length + mapping.user.length;
      }
    }
  }
  bytes() {
    return this.#mappings.size * ENTRY_OVERHEAD + this.#chars * 2;
  }
  toJSON() {
    const entries = [];
    for (const [anonId, mapping] of this.#mappings) entries.push([anonId, mapping.user, mapping.ts]);
    return entries;
  }
  static fromJSON(json) {
    const identity = new _IdentityMap();
    for (const [anonId, userId, ts] of json) identity.apply(anonId, userId, ts);
    return identity;
  }
};

// src/operators/churn-pending.ts
var ID_BYTES = 96;
var BUCKET_BYTES = 176;
var MAPPING_BYTES = 160;
var SESSION_BYTES = 280;
function emptyBucket() {
  return { orders: 0, revenueMicros: 0, minTs: NaN, maxTs: NaN, cartAdds: 0 };
}
var PendingEvents = class _PendingEvents {
  #days = /* @__PURE__ */ new Map();
  #seen = /* @__PURE__ */ new Set();
  #sessions = /* @__PURE__ */ new Map();
  /** The day's pending record, created when missing. */
  day(day) {
    let pending = this.#days.get(day);
    if (pending === void 0) {
      pending = { day, ids: [], users: /* @__PURE__ */ new Map(), anons: /* @__PURE__ */ new Map(), mappings: /* @__PURE__ */ new Map() };
      this.#days.set(day, pending);
    }
    return pending;
  }
  /** True when any of the ids was already accepted; otherwise remembers all of them under `day`. */
  checkAndRemember(day, ids) {
    for (const id of ids) if (this.#seen.has(id)) return true;
    for (const id of ids) {
      this.#seen.add(id);
      day.ids.push(id);
    }
    return false;
  }
  /** Keeps the highest version of each session (a retraction is a version too). */
  putSession(session) {
    const current = this.#sessions.get(session.sessionId);
    if (current === void 0 || session.version >= current.version) this.#sessions.set(session.sessionId, session);
  }
  /** Removes and returns everything with event time before `endTs` (a UTC midnight). */
  takeBefore(endTs) {
    const endDay = endTs / DAY_MS2;
    const days = [];
    for (const [day, pending] of this.#days) {
      if (day >= endDay) continue;
      days.push(pending);
      this.#days.delete(day);
      for (const id of pending.ids) this.#seen.delete(id);
    }
    days.sort((a, b) => a.day - b.day);
    const sessions = [];
    for (const [sessionId, session] of this.#sessions) {
      if (session.endTs >= endTs) continue;
      this.#sessions.delete(sessionId);
      if (!session.retracted) sessions.push(session);
    }
    sessions.sort((a, b) => a.endTs - b.endTs || compareStrings(a.sessionId, b.sessionId));
    return { days, sessions };
  }
  bytes() {
    let bytes = this.#seen.size * ID_BYTES + this.#sessions.size * SESSION_BYTES;
    for (const pending of this.#days.values()) {
      bytes += (pending.users.size + pending.anons.size) * BUCKET_BYTES + pending.mappings.size * MAPPING_BYTES;
    }
    return bytes;
  }
  toJSON() {
    const days = [...this.#days.values()].map((pending) => ({
      day: pending.day,
      ids: [...pending.ids],
      users: [...pending.users].map(([key, bucket]) => [key, { ...bucket }]),
      anons: [...pending.anons].map(([key, bucket]) => [key, { ...bucket }]),
      mappings: [...pending.mappings].map(([anon, m]) => [anon, m.user, m.ts])
    }));
    return { days, sessions: [...this.#sessions.values()].map((session) => ({ ...session })) };
  }
  static fromJSON(json) {
    const pending = new _PendingEvents();
    for (const entry2 of json.days) {
      const day = pending.day(entry2.day);
      pending.checkAndRemember(day, entry2.ids);
      const revive = (bucket) => ({ ...bucket, minTs: bucket.minTs ?? NaN, maxTs: bucket.maxTs ?? NaN });
      for (const [key, bucket] of entry2.users) day.users.set(key, revive(bucket));
      for (const [key, bucket] of entry2.anons) day.anons.set(key, revive(bucket));
      for (const [anon, user, ts] of entry2.mappings) day.mappings.set(anon, { user, ts });
    }
    for (const session of json.sessions) pending.putSession({ ...session });
    return pending;
  }
};
function compareStrings(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

// src/operators/churn-rfm.ts
function quintileScores(values, count) {
  const scores = new Uint8Array(count);
  if (count === 0) return scores;
  const sorted = values.slice(0, count).sort();
  for (let i = 0; i < count; i++) {
    scores[i] = 1 + Math.floor(5 * countBelow(sorted, values[i]) / count);
  }
  return scores;
}
function countBelow(sorted, value) {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = low + high >>> 1;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

// src/operators/churn-features.ts
var churnFeaturesConfig = z3.strictObject({
  type: z3.literal("churnFeatures"),
  snapshotEvery: duration("1d").refine((ms) => ms > 0 && ms % DAY_MS2 === 0, 'expected whole days like "1d" (snapshots are UTC days)').describe("Snapshot period (UTC days); a snapshot is the table as of the period's end."),
  outOfOrderness: duration("1m").describe("Watermark = max event time minus this."),
  allowedLateness: duration("1h").describe("A period's snapshot is written once the watermark passes its end + this."),
  idleTimeout: duration("1m").describe("A partition silent this long (processing time) stops holding the watermark back."),
  maxFutureSkew: duration("5m").describe("An event cannot push the watermark past its received_at + this."),
  identityRetention: duration("90d").describe(
    "An anon_id \u2192 user_id mapping not seen again for this long (event time) is forgotten."
  )
}).describe("Keeps churn features per customer; writes `customer_features` snapshots.");
var churnFeaturesExample = { type: "churnFeatures", snapshotEvery: "1d", allowedLateness: "1h" };
var CUSTOMER_FEATURES = "customer_features";
var LATE_REASON = "snapshot_written";
var MICROS = 1e6;
var customerFeaturesTable = {
  name: CUSTOMER_FEATURES,
  partitionKey: "snapshot_date",
  partitionOf: (row) => String(row.snapshot_date),
  columns: [
    { name: "customer_id", type: "string", nullable: false },
    { name: "snapshot_date", type: "date", nullable: false },
    { name: "first_purchase_ts", type: "timestamp" },
    { name: "last_purchase_ts", type: "timestamp" },
    { name: "frequency", type: "int64" },
    { name: "recency_days", type: "int64" },
    { name: "t_days", type: "int64" },
    { name: "monetary_value", type: "float64" },
    { name: "orders_total", type: "int64", nullable: false },
    { name: "revenue_total", type: "float64", nullable: false },
    { name: "days_since_last_purchase", type: "int64" },
    { name: "sessions_7d", type: "int64" },
    { name: "sessions_30d", type: "int64" },
    { name: "sessions_90d", type: "int64" },
    { name: "pageviews_30d", type: "int64" },
    { name: "avg_session_duration_s_30d", type: "float64" },
    { name: "days_since_last_session", type: "int64" },
    { name: "cart_adds_30d", type: "int64", nullable: false },
    { name: "cart_abandon_rate_30d", type: "float64" },
    { name: "rfm_r", type: "int32" },
    { name: "rfm_f", type: "int32" },
    { name: "rfm_m", type: "int32" },
    { name: "rfm_code", type: "string" }
  ]
};
var ChurnFeaturesOperator = class {
  id = "churnFeatures";
  tables = [customerFeaturesTable];
  #config;
  /** The session gap when sessionize feeds this operator; snapshots then also wait for the session watermark. */
  #sessionGap;
  #tracker;
  #sessionWatermark = -Infinity;
  /** Index of the first period whose snapshot is not written yet; null before any event. */
  #nextPeriod = null;
  /** End of the last written period: earlier purchases are late. */
  #writtenUntil = -Infinity;
  #maxEventTs = -Infinity;
  #store = new CustomerStore();
  #identity = new IdentityMap();
  #pending = new PendingEvents();
  #windows = {
    sessions7d: 0,
    sessions30d: 0,
    sessions90d: 0,
    pageviews30d: 0,
    durationMs30d: 0,
    cartAdds30d: 0,
    cartSessions30d: 0,
    abandonedSessions30d: 0
  };
  constructor(config, environment) {
    this.#config = config;
    this.#sessionGap = environment.session?.gap;
    this.#tracker = this.#newTracker();
  }
  onEvent(event, origin, ctx) {
    if (event.ts < this.#writtenUntil) {
      if (event.type === "purchase") ctx.late(event, this.#tracker.current, LATE_REASON);
    } else {
      this.#accept(event, ctx);
    }
    this.#tracker.observe(origin.partition, event.ts, event.received_at, ctx.now());
    this.#writeReadySnapshots(ctx);
  }
  onSession(session, _ctx) {
    if (session.end_ts < this.#writtenUntil) return;
    this.#pending.putSession({
      sessionId: session.session_id,
      version: session.version,
      retracted: session.retracted,
      userId: session.user_id || null,
      visitorId: session.visitor_id,
      endTs: session.end_ts,
      pageviews: session.pageview_count,
      durationMs: session.duration_ms,
      cartAdds: session.cart_adds ?? 0,
      converted: session.converted,
      isBot: session.is_bot
    });
  }
  onSessionWatermark(watermark, ctx) {
    if (watermark > this.#sessionWatermark) this.#sessionWatermark = watermark;
    this.#writeReadySnapshots(ctx);
  }
  onTick(ctx) {
    this.#tracker.tick(ctx.now());
    this.#writeReadySnapshots(ctx);
  }
  /** Watermarks to +∞: writes every snapshot up to and including the period holding the latest event time. */
  onEnd(ctx) {
    this.#tracker.advanceToEnd();
    this.#sessionWatermark = Infinity;
    this.#writeReadySnapshots(ctx);
  }
  watermark() {
    return this.#tracker.current;
  }
  stateBytes() {
    return this.#store.bytes() + this.#identity.bytes() + this.#pending.bytes();
  }
  snapshot() {
    return {
      watermark: this.#tracker.snapshot(),
      sessionWatermark: encodeTime2(this.#sessionWatermark),
      nextPeriod: this.#nextPeriod,
      writtenUntil: encodeTime2(this.#writtenUntil),
      maxEventTs: encodeTime2(this.#maxEventTs),
      store: this.#store.toJSON(),
      identity: this.#identity.toJSON(),
      pending: this.#pending.toJSON()
    };
  }
  restore(state) {
    const saved = state;
    this.#tracker = this.#newTracker();
    this.#tracker.restore(saved.watermark);
    this.#sessionWatermark = decodeTime2(saved.sessionWatermark);
    this.#nextPeriod = saved.nextPeriod;
    this.#writtenUntil = decodeTime2(saved.writtenUntil);
    this.#maxEventTs = decodeTime2(saved.maxEventTs);
    this.#store = CustomerStore.fromJSON(saved.store);
    this.#identity = IdentityMap.fromJSON(saved.identity);
    this.#pending = PendingEvents.fromJSON(saved.pending);
  }
  #newTracker() {
    const { outOfOrderness, idleTimeout, maxFutureSkew } = this.#config;
    return new WatermarkTracker({ outOfOrderness, idleTimeout, maxFutureSkew });
  }
  #periodOf(ts) {
    return Math.floor(ts / this.#config.snapshotEvery);
  }
  #accept(event, ctx) {
    this.#noteAccepted(event);
    const user = event.user_id || void 0;
    const anon = event.anon_id || void 0;
    const day = this.#pending.day(dayOf(event.ts));
    if (user !== void 0 && anon !== void 0) {
      const mapping = day.mappings.get(anon);
      if (mapping === void 0) day.mappings.set(anon, { user, ts: event.ts });
      else if (event.ts > mapping.ts || event.ts === mapping.ts && user > mapping.user) {
        mapping.user = user;
        mapping.ts = event.ts;
      }
    }
    const isPurchase = event.type === "purchase";
    const isCartAdd = event.type === "add_to_cart" && this.#sessionGap === void 0;
    if (isPurchase || isCartAdd) {
      const ids = isPurchase && event.order_id !== void 0 ? [`o:${event.order_id}`, `e:${event.event_id}`] : [`e:${event.event_id}`];
      if (this.#pending.checkAndRemember(day, ids)) {
        ctx.metrics.eventsDuplicate.inc();
        return;
      }
    }
    let bucket;
    if (user !== void 0) bucket = bucketIn(day.users, user);
    else if (anon !== void 0 && (isPurchase || isCartAdd)) bucket = bucketIn(day.anons, anon);
    if (bucket === void 0) return;
    if (isCartAdd) bucket.cartAdds += 1;
    if (isPurchase) {
      const revenue = Number.isFinite(event.revenue) ? event.revenue : 0;
      bucket.orders += 1;
      bucket.revenueMicros += Math.round(revenue * MICROS);
      if (!(bucket.minTs <= event.ts)) bucket.minTs = event.ts;
      if (!(bucket.maxTs >= event.ts)) bucket.maxTs = event.ts;
    }
  }
  /** Tracks where snapshots start and end: the first period with any event, and the latest (skew-guarded) event time. */
  #noteAccepted(event) {
    const period = this.#periodOf(event.ts);
    if (this.#nextPeriod === null || this.#writtenUntil === -Infinity && period < this.#nextPeriod) this.#nextPeriod = period;
    const ceiling = event.received_at === void 0 ? Infinity : event.received_at + this.#config.maxFutureSkew;
    const ts = Math.min(event.ts, ceiling);
    if (ts > this.#maxEventTs) this.#maxEventTs = ts;
  }
  /** Writes every period whose snapshot is due, never past the period of the latest event (the end of input's limit). */
  #writeReadySnapshots(ctx) {
    const lastPeriod = this.#periodOf(this.#maxEventTs);
    while (this.#nextPeriod !== null && this.#nextPeriod <= lastPeriod) {
      const end = (this.#nextPeriod + 1) * this.#config.snapshotEvery;
      const eventsDone = this.#tracker.current >= end + this.#config.allowedLateness;
      const sessionsDone = this.#sessionGap === void 0 || this.#sessionWatermark >= end + this.#sessionGap;
      if (!eventsDone || !sessionsDone) return;
      this.#fold(this.#pending.takeBefore(end), end);
      this.#emitSnapshot(end, ctx);
      this.#writtenUntil = end;
      this.#nextPeriod += 1;
    }
  }
  /** Folds everything before `end` into the store in a fixed order, so the result never depends on arrival order. */
  #fold(batch, end) {
    for (const day of batch.days) for (const [anon, mapping] of day.mappings) this.#identity.apply(anon, mapping.user, mapping.ts);
    this.#identity.evictBefore(end - this.#config.identityRetention);
    const store = this.#store;
    for (const day of batch.days) {
      for (const user of [...day.users.keys()].sort(compareStrings)) addBucket(store, store.slotOf(user), day.day, day.users.get(user));
      for (const anon of [...day.anons.keys()].sort(compareStrings)) {
        const user = this.#identity.resolve(anon);
        if (user !== void 0) addBucket(store, store.slotOf(user), day.day, day.anons.get(anon));
      }
    }
    for (const session of batch.sessions) {
      if (session.isBot) continue;
      const user = session.userId ?? this.#identity.resolve(session.visitorId);
      if (user === void 0) continue;
      store.addSession(store.slotOf(user), {
        day: dayOf(session.endTs),
        pageviews: session.pageviews,
        durationMs: session.durationMs,
        cartAdds: session.cartAdds,
        converted: session.converted
      });
    }
  }
  /** Writes the whole customer table as of `end` (exclusive), then its `_SUCCESS` marker. */
  #emitSnapshot(end, ctx) {
    const store = this.#store;
    const snapshotDay = dayOf(end - 1);
    const snapshotDate = utcDay(end - 1);
    const rfm = rfmScores(store);
    const withSessions = this.#sessionGap !== void 0;
    const firstTs = store.column("firstPurchaseTs");
    const lastTs = store.column("lastPurchaseTs");
    const purchaseDays = store.column("purchaseDays");
    const orders = store.column("orders");
    const revenueMicros = store.column("revenueMicros");
    const repeatRevenueMicros = store.column("repeatRevenueMicros");
    const lastSessionDay = store.column("lastSessionDay");
    let purchaser = 0;
    for (let slot = 0; slot < store.size; slot++) {
      const w = store.windowsAt(slot, snapshotDay, this.#windows);
      const bought = purchaseDays[slot] > 0;
      const firstDay = bought ? dayOf(firstTs[slot]) : 0;
      const lastDay = bought ? dayOf(lastTs[slot]) : 0;
      const frequency = purchaseDays[slot] - 1;
      const r = bought ? rfm.r[purchaser] : 0;
      const f = bought ? rfm.f[purchaser] : 0;
      const m = bought ? rfm.m[purchaser] : 0;
      if (bought) purchaser += 1;
      ctx.emit(CUSTOMER_FEATURES, {
        customer_id: store.idAt(slot),
        snapshot_date: snapshotDate,
        first_purchase_ts: bought ? firstTs[slot] : null,
        last_purchase_ts: bought ? lastTs[slot] : null,
        frequency: bought ? frequency : null,
        recency_days: bought ? lastDay - firstDay : null,
        t_days: bought ? snapshotDay - firstDay : null,
        monetary_value: bought ? frequency > 0 ? repeatRevenueMicros[slot] / MICROS / frequency : 0 : null,
        orders_total: orders[slot],
        revenue_total: revenueMicros[slot] / MICROS,
        days_since_last_purchase: bought ? snapshotDay - lastDay : null,
        sessions_7d: withSessions ? w.sessions7d : null,
        sessions_30d: withSessions ? w.sessions30d : null,
        sessions_90d: withSessions ? w.sessions90d : null,
        pageviews_30d: withSessions ? w.pageviews30d : null,
        avg_session_duration_s_30d: w.sessions30d > 0 ? w.durationMs30d / w.sessions30d / 1e3 : null,
        days_since_last_session: Number.isNaN(lastSessionDay[slot]) ? null : snapshotDay - lastSessionDay[slot],
        cart_adds_30d: w.cartAdds30d,
        cart_abandon_rate_30d: w.cartSessions30d > 0 ? w.abandonedSessions30d / w.cartSessions30d : null,
        rfm_r: bought ? r : null,
        rfm_f: bought ? f : null,
        rfm_m: bought ? m : null,
        rfm_code: bought ? `${r}${f}${m}` : null
      });
    }
    ctx.emit(SUCCESS_MARKER_TABLE, { table: CUSTOMER_FEATURES, partition: snapshotDate });
  }
};
function bucketIn(buckets, key) {
  let bucket = buckets.get(key);
  if (bucket === void 0) {
    bucket = emptyBucket();
    buckets.set(key, bucket);
  }
  return bucket;
}
function addBucket(store, slot, day, bucket) {
  if (bucket.orders > 0) store.addPurchaseDay(slot, day, bucket.orders, bucket.revenueMicros, bucket.minTs, bucket.maxTs);
  if (bucket.cartAdds > 0) store.addCartAdds(slot, day, bucket.cartAdds);
}
function rfmScores(store) {
  const purchaseDays = store.column("purchaseDays");
  const lastTs = store.column("lastPurchaseTs");
  const orders = store.column("orders");
  const revenueMicros = store.column("revenueMicros");
  let count = 0;
  for (let slot = 0; slot < store.size; slot++) if (purchaseDays[slot] > 0) count += 1;
  const lastDays = new Float64Array(count);
  const orderCounts = new Float64Array(count);
  const revenues = new Float64Array(count);
  let i = 0;
  for (let slot = 0; slot < store.size; slot++) {
    if (purchaseDays[slot] === 0) continue;
    lastDays[i] = dayOf(lastTs[slot]);
    orderCounts[i] = orders[slot];
    revenues[i] = revenueMicros[slot];
    i += 1;
  }
  return { r: quintileScores(lastDays, count), f: quintileScores(orderCounts, count), m: quintileScores(revenues, count) };
}
function encodeTime2(ms) {
  return Number.isFinite(ms) ? ms : String(ms);
}
function decodeTime2(value) {
  return typeof value === "string" ? Number(value) : value;
}
function createChurnFeatures(config, environment) {
  return new ChurnFeaturesOperator(config, environment);
}

// src/operators/sequence-patterns.ts
import { z as z4 } from "zod";

// src/operators/mining/count-map.ts
var SHARDS = 16;
var CountMap = class {
  shards = Array.from({ length: SHARDS }, () => /* @__PURE__ */ new Map());
  get size() {
    let size = 0;
    for (const shard of this.shards) size += shard.size;
    return size;
  }
  get(key) {
    return this.shardOf(key).get(key);
  }
  set(key, count) {
    this.shardOf(key).set(key, count);
  }
  delete(key) {
    return this.shardOf(key).delete(key);
  }
  *entries() {
    for (const shard of this.shards) yield* shard;
  }
  shardOf(key) {
    let hash = key.length;
    for (let index = Math.max(0, key.length - 4); index < key.length; index += 1) hash = hash * 31 + key.charCodeAt(index) | 0;
    return this.shards[(hash >>> 0) % SHARDS];
  }
};

// src/operators/mining/distinct-subsequences.ts
function forEachDistinctSubsequence(sequence, maxLength, visit, itemJoin = DEFAULT_ITEM_JOIN) {
  const steps = sequence.length;
  if (steps === 0 || maxLength < 1) return;
  const distinct = [...new Set(sequence.flat())].sort(compareItems);
  const itemCount = distinct.length;
  if (itemCount === 0) return;
  const idOf = /* @__PURE__ */ new Map();
  distinct.forEach((item, id) => idOf.set(item, id));
  const stepIds = sequence.map((itemset) => Int32Array.from(itemset, (item) => idOf.get(item)));
  const hasMultiItemSteps = stepIds.some((ids) => ids.length > 1);
  const nextStep = new Int32Array((steps + 1) * itemCount).fill(-1);
  for (let i = steps - 1; i >= 0; i -= 1) {
    nextStep.copyWithin(i * itemCount, (i + 1) * itemCount, (i + 2) * itemCount);
    for (const id of stepIds[i]) nextStep[i * itemCount + id] = i;
  }
  const firstStepOf = hasMultiItemSteps ? new Int32Array(maxLength * itemCount).fill(-1) : new Int32Array(0);
  const extend = (prevEnd, end, last, pattern, length) => {
    if (length > 0) visit(pattern, length);
    if (length === maxLength) return;
    if (hasMultiItemSteps) extendWithinStep(prevEnd, end, last, pattern, length);
    const row = (end + 1) * itemCount;
    for (let item = 0; item < itemCount; item += 1) {
      const step = nextStep[row + item];
      if (step < 0) continue;
      const text = length === 0 ? distinct[item] : pattern + PATTERN_STEP_SEPARATOR + distinct[item];
      extend(end, step, [item], text, length + 1);
    }
  };
  const extendWithinStep = (prevEnd, end, last, pattern, length) => {
    if (length === 0) return;
    const base = length * itemCount;
    const maxLast = last[last.length - 1];
    const candidates = [];
    for (let step = end; step < steps; step += 1) {
      const ids = stepIds[step];
      if (!containsAll(ids, last)) continue;
      for (const id of ids) {
        if (id <= maxLast || firstStepOf[base + id] >= 0) continue;
        firstStepOf[base + id] = step;
        candidates.push(id);
      }
    }
    candidates.sort((a, b) => a - b);
    const found = candidates.map((id) => firstStepOf[base + id]);
    for (const id of candidates) firstStepOf[base + id] = -1;
    for (let index = 0; index < candidates.length; index += 1) {
      const id = candidates[index];
      extend(prevEnd, found[index], [...last, id], pattern + itemJoin + distinct[id], length + 1);
    }
  };
  extend(-1, -1, [], "", 0);
}
function forEachDistinctContiguous(sequence, maxLength, visit, itemJoin = DEFAULT_ITEM_JOIN) {
  const tokens = sequence.map((itemset) => itemset.join(itemJoin));
  const seen = /* @__PURE__ */ new Set();
  for (let start = 0; start < tokens.length; start += 1) {
    let text = "";
    for (let length = 1; length <= maxLength && start + length <= tokens.length; length += 1) {
      text = length === 1 ? tokens[start] : text + PATTERN_STEP_SEPARATOR + tokens[start + length - 1];
      if (seen.has(text)) continue;
      seen.add(text);
      visit(text, length);
    }
  }
}
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
  const grow2 = (pattern, projection, length) => {
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
        else grow2(extendedPattern, projectWithin(projection, extended), length + 1);
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
      grow2([...pattern, [extensions.items[e]]], children[e], length + 1);
    }
  };
  const root = emptyProjection();
  for (let sequence = 0; sequence < database.length; sequence++) pushProjection(root, sequence, -1);
  grow2([], root, 0);
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

// src/operators/mining/space-saving.ts
var SpaceSaving = class {
  capacity;
  keys = [];
  counts = [];
  errors = [];
  slotOf = /* @__PURE__ */ new Map();
  offered = 0;
  constructor(capacity) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Space-Saving needs k \u2265 1 counters, got ${capacity}`);
    this.capacity = capacity;
  }
  /** Total weight offered so far (N). */
  get total() {
    return this.offered;
  }
  offer(key, weight = 1) {
    this.offered += weight;
    const slot = this.slotOf.get(key);
    if (slot !== void 0) {
      this.counts[slot] += weight;
      this.siftDown(slot);
      return;
    }
    if (this.keys.length < this.capacity) {
      const fresh = this.keys.length;
      this.keys.push(key);
      this.counts.push(weight);
      this.errors.push(0);
      this.slotOf.set(key, fresh);
      this.siftUp(fresh);
      return;
    }
    const evictedCount = this.counts[0];
    this.slotOf.delete(this.keys[0]);
    this.keys[0] = key;
    this.counts[0] = evictedCount + weight;
    this.errors[0] = evictedCount;
    this.slotOf.set(key, 0);
    this.siftDown(0);
  }
  /** The monitored keys, highest estimate first (ties by key). */
  entries() {
    return this.keys.map((key, slot) => ({ key, count: this.counts[slot], error: this.errors[slot] })).sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  siftUp(start) {
    let slot = start;
    while (slot > 0) {
      const parent = slot - 1 >> 1;
      if (this.counts[parent] <= this.counts[slot]) return;
      this.swap(slot, parent);
      slot = parent;
    }
  }
  siftDown(start) {
    let slot = start;
    const size = this.keys.length;
    for (; ; ) {
      const left = 2 * slot + 1;
      if (left >= size) return;
      const right = left + 1;
      const smaller = right < size && this.counts[right] < this.counts[left] ? right : left;
      if (this.counts[slot] <= this.counts[smaller]) return;
      this.swap(slot, smaller);
      slot = smaller;
    }
  }
  swap(a, b) {
    const key = this.keys[a];
    this.keys[a] = this.keys[b];
    this.keys[b] = key;
    const count = this.counts[a];
    this.counts[a] = this.counts[b];
    this.counts[b] = count;
    const error = this.errors[a];
    this.errors[a] = this.errors[b];
    this.errors[b] = error;
    this.slotOf.set(this.keys[a], a);
    this.slotOf.set(this.keys[b], b);
  }
};

// src/operators/mining/pattern-counting.ts
var PATTERN_KINDS = ["subsequence", "contiguous"];
function forEachDistinctPattern(kind, sequence, maxLength, itemJoin, visit) {
  if (kind === "subsequence") forEachDistinctSubsequence(sequence, maxLength, visit, itemJoin);
  else forEachDistinctContiguous(sequence, maxLength, visit, itemJoin);
}
function exactPatternCounts(sequences, maxLength, itemJoin, minCount) {
  const found = [];
  forEachFrequentSequence(sequences, { minSupportCount: minCount, maxLength }, (pattern, support, items) => {
    let text = "";
    let length = 0;
    for (let step = 0; step < pattern.length; step++) {
      if (step > 0) text += PATTERN_STEP_SEPARATOR;
      const ids = pattern[step];
      for (let k = 0; k < ids.length; k++) text += k === 0 ? items[ids[k]] : itemJoin + items[ids[k]];
      length += ids.length;
    }
    found.push({ kind: "subsequence", pattern: text, length, support, errorBound: 0 });
  });
  const numeric = sequences.every((sequence) => sequence.every((step) => step.length === 1)) ? countOneItemRuns(sequences, maxLength, minCount) : void 0;
  if (numeric !== void 0) {
    for (const counted of numeric) found.push(counted);
    return found;
  }
  const runs = new CountMap();
  const lengthOf = /* @__PURE__ */ new Map();
  for (const sequence of sequences) {
    forEachDistinctContiguous(sequence, maxLength, (pattern, length) => {
      const count = (runs.get(pattern) ?? 0) + 1;
      runs.set(pattern, count);
      if (count === minCount) lengthOf.set(pattern, length);
    }, itemJoin);
  }
  for (const [pattern, length] of lengthOf) found.push({ kind: "contiguous", pattern, length, support: runs.get(pattern), errorBound: 0 });
  return found;
}
function countOneItemRuns(sequences, maxLength, minCount) {
  const idOf = /* @__PURE__ */ new Map();
  const items = [];
  const encoded = sequences.map(
    (sequence) => Int32Array.from(sequence, (step) => {
      let id = idOf.get(step[0]);
      if (id === void 0) {
        id = items.length;
        idOf.set(step[0], id);
        items.push(step[0]);
      }
      return id;
    })
  );
  const base = items.length + 1;
  const longest = Math.min(maxLength, encoded.reduce((most, ids) => Math.max(most, ids.length), 0));
  if (base ** longest > Number.MAX_SAFE_INTEGER) return void 0;
  const counts = /* @__PURE__ */ new Map();
  const lastSequence = /* @__PURE__ */ new Map();
  encoded.forEach((ids, sequence) => {
    for (let start = 0; start < ids.length; start++) {
      let key = 0;
      for (let length = 1; length <= longest && start + length <= ids.length; length++) {
        key = key * base + ids[start + length - 1] + 1;
        if (lastSequence.get(key) === sequence) continue;
        lastSequence.set(key, sequence);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
  });
  const found = [];
  for (const [key, support] of counts) {
    if (support < minCount) continue;
    const run = [];
    for (let rest = key; rest > 0; rest = Math.floor(rest / base)) run.push(items[rest % base - 1]);
    found.push({ kind: "contiguous", pattern: run.reverse().join(PATTERN_STEP_SEPARATOR), length: run.length, support, errorBound: 0 });
  }
  return found;
}
function approximatePatternCounts(sequences, maxLength, itemJoin, capacity, minCount) {
  const summaries = /* @__PURE__ */ new Map();
  for (const kind of PATTERN_KINDS) summaries.set(kind, Array.from({ length: maxLength }, () => new SpaceSaving(capacity)));
  for (const sequence of sequences) {
    for (const kind of PATTERN_KINDS) {
      const byLength = summaries.get(kind);
      forEachDistinctPattern(kind, sequence, maxLength, itemJoin, (pattern, length) => byLength[length - 1].offer(pattern));
    }
  }
  const found = [];
  for (const kind of PATTERN_KINDS) {
    summaries.get(kind).forEach((summary, index) => {
      for (const { key, count, error } of summary.entries()) {
        if (count >= minCount) found.push({ kind, pattern: key, length: index + 1, support: count, errorBound: error });
      }
    });
  }
  return found;
}

// src/operators/sequence-patterns.ts
var sequencePatternsConfig = z4.strictObject({
  type: z4.literal("sequencePatterns"),
  window: duration("1h").describe("Tumbling window size, aligned to the UTC epoch; a session belongs to the window holding its end."),
  every: duration().optional().describe("Hop size for hopping windows; omitted means tumbling."),
  item: z4.enum(["page_item", "page_path"]).default("page_item").describe("page_item (after urlRules) or page_path (raw path)."),
  maxLength: z4.number().int().min(1).max(10).default(3).describe("Longest pattern counted."),
  minSupport: z4.number().positive().default(0.01).describe("In (0,1): a ratio of the window's sessions (ceil); \u2265 1: a count."),
  topK: z4.number().int().positive().optional().describe("Bounded-memory mode: Space-Saving with this many counters per length."),
  allowedLateness: duration().optional().describe("Defaults to the sessionize operator's allowedLateness."),
  itemsetSeparator: z4.string().min(1).optional().describe('When set, a page item holding this separator is an itemset of simultaneous items (SPMF sequences, e.g. " "); default: every page item is one item.')
}).describe("Counts frequent page sequences per window of sessions; writes the `patterns` table.");
var sequencePatternsExample = { type: "sequencePatterns", window: "1h", item: "page_item", maxLength: 3, minSupport: 0.01 };
var patternsTable = {
  name: "patterns",
  columns: [
    { name: "window_start", type: "timestamp", nullable: false },
    { name: "window_end", type: "timestamp", nullable: false },
    { name: "kind", type: "string", nullable: false },
    { name: "pattern", type: "string", nullable: false },
    { name: "length", type: "int32", nullable: false },
    { name: "support", type: "int64", nullable: false },
    { name: "support_ratio", type: "float64", nullable: false },
    { name: "error_bound", type: "int64", nullable: false }
  ],
  partitionKey: "dt",
  partitionOf: (row) => formatUtcDay(row.window_start)
};
var SequencePatternsOperator = class {
  id = "sequencePatterns";
  tables = [patternsTable];
  windowSize;
  hop;
  /** Time after a window's end until no session in it can change: gap + allowedLateness. */
  settle;
  itemJoin;
  sessions = /* @__PURE__ */ new Map();
  windows = /* @__PURE__ */ new Map();
  sessionWatermark = Number.NEGATIVE_INFINITY;
  sessionBytes = 0;
  late = 0;
  config;
  constructor(config, environment) {
    this.config = config;
    this.windowSize = config.window;
    this.hop = config.every ?? config.window;
    if (this.windowSize <= 0 || this.hop <= 0 || this.hop > this.windowSize) {
      throw new RangeError(`sequencePatterns: every (${this.hop} ms) must be positive and at most window (${this.windowSize} ms)`);
    }
    this.settle = (environment.session?.gap ?? 0) + (config.allowedLateness ?? environment.session?.allowedLateness ?? 0);
    this.itemJoin = config.itemsetSeparator ?? DEFAULT_ITEM_JOIN;
  }
  /** Session versions that arrived after every window holding them had closed. */
  get lateSessionVersions() {
    return this.late;
  }
  onSession(session, _ctx) {
    const previous = this.sessions.get(session.session_id);
    if (previous !== void 0 && session.version <= previous.version) return;
    if (previous !== void 0) this.untrack(session.session_id, previous);
    if (session.retracted) return;
    const elements = [...this.config.item === "page_path" ? session.page_path : session.page_items];
    this.track(session.session_id, session.version, session.end_ts, elements);
  }
  watermark() {
    return this.sessionWatermark;
  }
  onSessionWatermark(watermark, ctx) {
    if (!(watermark > this.sessionWatermark)) return;
    this.sessionWatermark = watermark;
    this.closeSettledWindows(ctx);
  }
  onEnd(ctx) {
    this.sessionWatermark = Number.POSITIVE_INFINITY;
    this.closeSettledWindows(ctx);
  }
  snapshot() {
    return {
      watermark: Number.isFinite(this.sessionWatermark) ? this.sessionWatermark : null,
      ended: this.sessionWatermark === Number.POSITIVE_INFINITY,
      lateSessionVersions: this.late,
      sessions: [...this.sessions].map(([id, s]) => [id, s.version, s.endTs, s.elements])
    };
  }
  restore(state) {
    const snapshot = state;
    this.sessions.clear();
    this.windows.clear();
    this.sessionBytes = 0;
    this.sessionWatermark = snapshot.ended ? Number.POSITIVE_INFINITY : snapshot.watermark ?? Number.NEGATIVE_INFINITY;
    this.late = snapshot.lateSessionVersions;
    for (const [id, version, endTs, elements] of snapshot.sessions) this.track(id, version, endTs, elements);
  }
  stateBytes() {
    let bytes = this.sessionBytes;
    for (const window of this.windows.values()) bytes += 64 + window.members.size * 16;
    return bytes;
  }
  track(id, version, endTs, elements) {
    const open2 = this.windowStartsOf(endTs).filter((start) => !this.isClosed(start));
    if (open2.length === 0) {
      this.late += 1;
      return;
    }
    const tracked = { version, endTs, elements, sequence: sessionSequence(elements, this.config.itemsetSeparator) };
    this.sessions.set(id, tracked);
    this.sessionBytes += sessionBytes(id, elements);
    for (const start of open2) {
      const window = this.windowAt(start);
      window.members.add(id);
    }
  }
  untrack(id, session) {
    this.sessions.delete(id);
    this.sessionBytes -= sessionBytes(id, session.elements);
    for (const start of this.windowStartsOf(session.endTs)) {
      const window = this.windows.get(start);
      window?.members.delete(id);
    }
  }
  windowAt(start) {
    let window = this.windows.get(start);
    if (window === void 0) {
      window = { start, members: /* @__PURE__ */ new Set() };
      this.windows.set(start, window);
    }
    return window;
  }
  /** Starts of the epoch-aligned windows [start, start + window) holding `ts`. */
  windowStartsOf(ts) {
    const starts = [];
    const first = (Math.floor((ts - this.windowSize) / this.hop) + 1) * this.hop;
    for (let start = first; start <= ts; start += this.hop) starts.push(start);
    return starts;
  }
  isClosed(start) {
    return start + this.windowSize + this.settle <= this.sessionWatermark;
  }
  closeSettledWindows(ctx) {
    if (!this.anyWindowClosed()) return;
    const settled = [...this.windows.keys()].filter((start) => this.isClosed(start)).sort((a, b) => a - b);
    for (const start of settled) this.closeWindow(this.windows.get(start), ctx);
  }
  anyWindowClosed() {
    for (const start of this.windows.keys()) if (this.isClosed(start)) return true;
    return false;
  }
  closeWindow(window, ctx) {
    this.windows.delete(window.start);
    const sessionCount = window.members.size;
    if (sessionCount > 0) {
      const minCount = sequenceMinSupportCount(this.config.minSupport, sessionCount);
      const sequences = this.memberSequences(window);
      const { maxLength, topK } = this.config;
      const found = topK === void 0 ? exactPatternCounts(sequences, maxLength, this.itemJoin, minCount) : approximatePatternCounts(sequences, maxLength, this.itemJoin, topK, minCount);
      const windowEnd = window.start + this.windowSize;
      for (const counted of found.sort(byOutputOrder)) ctx.emit(patternsTable.name, patternRow(window.start, windowEnd, counted, sessionCount));
    }
    for (const id of window.members) {
      const session = this.sessions.get(id);
      if (session === void 0) continue;
      const starts = this.windowStartsOf(session.endTs);
      if (starts[starts.length - 1] === window.start) {
        this.sessions.delete(id);
        this.sessionBytes -= sessionBytes(id, session.elements);
      }
    }
  }
  /** Members in (end time, id) order, so Space-Saving's result does not depend on arrival order or restores. */
  memberSequences(window) {
    return [...window.members].map((id) => [id, this.sessions.get(id)]).sort(([idA, a], [idB, b]) => a.endTs - b.endTs || (idA < idB ? -1 : idA > idB ? 1 : 0)).map(([, session]) => session.sequence);
  }
};
function patternRow(windowStart, windowEnd, counted, sessionCount) {
  return {
    window_start: windowStart,
    window_end: windowEnd,
    kind: counted.kind,
    pattern: counted.pattern,
    length: counted.length,
    support: counted.support,
    support_ratio: counted.support / sessionCount,
    error_bound: counted.errorBound
  };
}
function byOutputOrder(a, b) {
  return (a.kind === b.kind ? 0 : a.kind === PATTERN_KINDS[0] ? -1 : 1) || a.length - b.length || b.support - a.support || (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0);
}
function sessionBytes(id, elements) {
  let chars = id.length;
  for (const element of elements) chars += element.length + 8;
  return 96 + chars * 2;
}
function createSequencePatterns(config, environment) {
  return new SequencePatternsOperator(config, environment);
}

// src/operators/sessionize.ts
import { z as z5 } from "zod";

// src/operators/sessionize-hash.ts
var FNV_OFFSET = 2166136261;
var FNV_PRIME = 16777619;
function fnv1a32(text, seed) {
  let hash = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, FNV_PRIME);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 2246822507);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 3266489909);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
function eventIdHash(eventId) {
  return fnv1a32(eventId, 0) * 65536 + (fnv1a32(eventId, 2654435769) >>> 16);
}
function sessionIdOf(visitorKey2, firstTs, firstIdHash) {
  const text = `${visitorKey2}\0${firstTs}\0${firstIdHash}`;
  return fnv1a32(text, 461845907).toString(16).padStart(8, "0") + fnv1a32(text, 1759714724).toString(16).padStart(8, "0");
}

// src/operators/sessionize-local-day.ts
var QUARTER_HOUR_MS = 9e5;
var DAY_MS3 = 864e5;
var CACHE_LIMIT = 4096;
var LocalDayCalendar = class {
  #format;
  #cache = /* @__PURE__ */ new Map();
  /** Throws a RangeError naming the zone when it is not a valid IANA time zone. */
  constructor(timeZone) {
    try {
      this.#format = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric", day: "numeric" });
    } catch {
      throw new RangeError(`unknown time zone "${timeZone}" (expected an IANA name such as "Europe/Berlin" or "UTC")`);
    }
  }
  dayOf(epochMs) {
    const bucket = Math.floor(epochMs / QUARTER_HOUR_MS);
    const cached = this.#cache.get(bucket);
    if (cached !== void 0) return cached;
    let year = 0;
    let month = 0;
    let day = 0;
    for (const part of this.#format.formatToParts(bucket * QUARTER_HOUR_MS)) {
      if (part.type === "year") year = Number(part.value);
      else if (part.type === "month") month = Number(part.value);
      else if (part.type === "day") day = Number(part.value);
    }
    const localDay = Date.UTC(year, month - 1, day) / DAY_MS3;
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(bucket, localDay);
    return localDay;
  }
};

// src/operators/sessionize-visitor.ts
var EVENT_SLOTS = 5;
var TS = 0;
var ID_KIND = 1;
var PAGE = 2;
var ITEM_OR_REVENUE = 3;
var USER = 4;
var NO_REF = -1;
var KIND_PAGE_VIEW = 0;
var KIND_CLICK = 1;
var KIND_ADD_TO_CART = 2;
var KIND_PURCHASE = 3;
var KIND_IDENTIFY = 4;
var BOT_FLAG = 8;
var KIND_RANGE = 16;
var REF_RANGE = 2 ** 26;
function packPage(url, referrer) {
  return (url + 1) * REF_RANGE + (referrer + 1);
}
function urlOf(page) {
  return Math.floor(page / REF_RANGE) - 1;
}
function referrerOf(page) {
  return page % REF_RANGE - 1;
}
function packIdKind(idHash, kindFlags) {
  return idHash * KIND_RANGE + kindFlags;
}
function idHashOf(idKind) {
  return Math.floor(idKind / KIND_RANGE);
}
function kindFlagsOf(idKind) {
  return idKind % KIND_RANGE;
}
function visitorKey(siteId, anonId) {
  return siteId === void 0 ? `\0${anonId}` : `${siteId}${anonId}`;
}
function parseVisitorKey(key) {
  if (key.charCodeAt(0) === 0) return { siteId: null, anonId: key.slice(1) };
  const separator = key.indexOf("");
  return { siteId: key.slice(0, separator), anonId: key.slice(separator + 1) };
}
var ID_SET_THRESHOLD = 32;
var VisitorState = class {
  key;
  /** EVENT_SLOTS numbers per event, sorted by (ts, event id hash). */
  events = [];
  sessions = [];
  tombstones = null;
  /** Last user_id of evicted events: stitches later sessions to the customer (discarded with the visitor). */
  carriedUser = null;
  /** Due time of this visitor's live timer entry (+∞: none). */
  scheduled = Infinity;
  #idSet = null;
  constructor(key) {
    this.key = key;
  }
  get eventCount() {
    return this.events.length / EVENT_SLOTS;
  }
  ts(index) {
    return this.events[index * EVENT_SLOTS + TS];
  }
  idHash(index) {
    return idHashOf(this.events[index * EVENT_SLOTS + ID_KIND]);
  }
  hasEvent(idHash) {
    if (this.#idSet !== null) return this.#idSet.has(idHash);
    const events = this.events;
    for (let offset = ID_KIND; offset < events.length; offset += EVENT_SLOTS) {
      if (idHashOf(events[offset]) === idHash) return true;
    }
    return false;
  }
  /** Index the event (ts, idHash) takes in time order; same-ms events are ordered by id hash. */
  insertionPoint(ts, idHash) {
    const count = this.eventCount;
    if (count === 0 || this.ts(count - 1) < ts) return count;
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = low + high >> 1;
      const middleTs = this.ts(middle);
      if (middleTs < ts || middleTs === ts && this.idHash(middle) < idHash) low = middle + 1;
      else high = middle;
    }
    return low;
  }
  insert(index, slots) {
    if (index === this.eventCount) this.events.push(...slots);
    else this.events.splice(index * EVENT_SLOTS, 0, ...slots);
    const idHash = idHashOf(slots[ID_KIND]);
    if (this.#idSet !== null) this.#idSet.add(idHash);
    else if (this.eventCount > ID_SET_THRESHOLD) this.#rebuildIdSet();
  }
  /** Removes the first `count` events and returns their slots. */
  removePrefix(count) {
    const removed = this.events.splice(0, count * EVENT_SLOTS);
    if (this.#idSet !== null) {
      if (this.eventCount > ID_SET_THRESHOLD) {
        for (let offset = ID_KIND; offset < removed.length; offset += EVENT_SLOTS) this.#idSet.delete(idHashOf(removed[offset]));
      } else {
        this.#idSet = null;
      }
    }
    return removed;
  }
  /** Start index of session `sessionIndex`. */
  sessionStart(sessionIndex) {
    let start = 0;
    for (let k = 0; k < sessionIndex; k++) start += this.sessions[k].count;
    return start;
  }
  /** Approximate bytes of the id Set, when there is one. */
  get idSetBytes() {
    return this.#idSet === null ? 0 : 24 * this.#idSet.size;
  }
  /** Call after replacing `events` wholesale (restore). */
  reindex() {
    this.#idSet = null;
    if (this.eventCount > ID_SET_THRESHOLD) this.#rebuildIdSet();
  }
  #rebuildIdSet() {
    const ids = /* @__PURE__ */ new Set();
    for (let offset = ID_KIND; offset < this.events.length; offset += EVENT_SLOTS) ids.add(idHashOf(this.events[offset]));
    this.#idSet = ids;
  }
};

// src/operators/sessionize-segment.ts
var SPLIT_REASONS = ["gap", "max_duration", "max_events", "midnight", "campaign"];
var REASON_GAP = 0;
var REASON_MAX_DURATION = 1;
var REASON_MAX_EVENTS = 2;
var REASON_MIDNIGHT = 3;
var REASON_CAMPAIGN = 4;
var NO_SPLIT = -1;
function sessionCampaign(events, sessionStart, rules) {
  return rules.campaignOf === null ? "" : rules.campaignOf(events, sessionStart);
}
function splitReason(events, sessionStart, index, rules, campaign) {
  const ts = events[index * EVENT_SLOTS + TS];
  const previousTs = events[(index - 1) * EVENT_SLOTS + TS];
  if (ts - previousTs > rules.gap) return REASON_GAP;
  if (ts - events[sessionStart * EVENT_SLOTS + TS] >= rules.maxDuration) return REASON_MAX_DURATION;
  if (index - sessionStart >= rules.maxEvents) return REASON_MAX_EVENTS;
  if (rules.dayOf !== null && rules.dayOf(ts) !== rules.dayOf(previousTs)) return REASON_MIDNIGHT;
  if (rules.campaignOf !== null) {
    const key = rules.campaignOf(events, index);
    if (key !== "" && key !== campaign) return REASON_CAMPAIGN;
  }
  return NO_SPLIT;
}
function segment(events, from, to, firstReason, rules) {
  const segments = [];
  if (from >= to) return segments;
  let start = from;
  let reason = firstReason;
  let campaign = sessionCampaign(events, start, rules);
  for (let index = from + 1; index < to; index++) {
    const split = splitReason(events, start, index, rules, campaign);
    if (split === NO_SPLIT) continue;
    segments.push({ count: index - start, reason });
    start = index;
    reason = split;
    campaign = sessionCampaign(events, start, rules);
  }
  segments.push({ count: to - start, reason });
  return segments;
}

// src/operators/sessionize-record.ts
var PAGE_PATH_CAP = 200;
var ENGAGED_DURATION_MS = 1e4;
function firstIndex(run) {
  return run.from === run.skip ? run.from + 1 : run.from;
}
function lastIndex(run) {
  return run.to - 1 === run.skip ? run.to - 2 : run.to - 1;
}
function runCount(run) {
  return run.to - run.from - (run.skip >= run.from && run.skip < run.to ? 1 : 0);
}
function runSessionId(visitor, run) {
  const first = firstIndex(run);
  return sessionIdOf(visitor.key, visitor.ts(first), visitor.idHash(first));
}
function runLastIdHash(visitor, run) {
  return visitor.idHash(lastIndex(run));
}
function runUser(visitor, pool, run) {
  const events = visitor.events;
  for (let index = run.to - 1; index >= 0; index--) {
    if (index === run.skip) continue;
    const user = events[index * EVENT_SLOTS + USER];
    if (user !== NO_REF) return pool.get(user);
  }
  return visitor.carriedUser;
}
function buildSessionRecord(visitor, pool, run, version, retracted, reason) {
  const events = visitor.events;
  let pageviewCount = 0;
  let landing = NO_REF;
  let exit = NO_REF;
  let converted = false;
  let revenue = 0;
  let isBot = false;
  let cartAdds = 0;
  const pagePath = [];
  const pageItems = [];
  for (let index = run.from; index < run.to; index++) {
    if (index === run.skip) continue;
    const base = index * EVENT_SLOTS;
    const kindFlags = kindFlagsOf(events[base + ID_KIND]);
    if ((kindFlags & BOT_FLAG) !== 0) isBot = true;
    const kind = kindFlags & BOT_FLAG - 1;
    if (kind === KIND_PAGE_VIEW) {
      pageviewCount++;
      const url = urlOf(events[base + PAGE]);
      if (url === NO_REF) continue;
      if (landing === NO_REF) landing = url;
      exit = url;
      if (pagePath.length < PAGE_PATH_CAP) {
        const path = pool.urlParts(url).path;
        const item = events[base + ITEM_OR_REVENUE];
        pagePath.push(path);
        pageItems.push(item === NO_REF ? path : pool.get(item));
      }
    } else if (kind === KIND_PURCHASE) {
      converted = true;
      revenue += events[base + ITEM_OR_REVENUE];
    } else if (kind === KIND_ADD_TO_CART) {
      cartAdds++;
    }
  }
  const first = firstIndex(run);
  const firstBase = first * EVENT_SLOTS;
  const startTs = events[firstBase + TS];
  const endTs = events[lastIndex(run) * EVENT_SLOTS + TS];
  const firstUrl = urlOf(events[firstBase + PAGE]);
  const firstReferrer = referrerOf(events[firstBase + PAGE]);
  const campaign = firstUrl === NO_REF ? void 0 : pool.urlParts(firstUrl);
  const durationMs = endTs - startTs;
  const isEngaged = durationMs >= ENGAGED_DURATION_MS || pageviewCount >= 2 || converted;
  const { siteId, anonId } = parseVisitorKey(visitor.key);
  return {
    session_id: sessionIdOf(visitor.key, startTs, idHashOf(events[firstBase + ID_KIND])),
    version,
    retracted,
    site_id: siteId,
    visitor_id: anonId,
    user_id: runUser(visitor, pool, run),
    start_ts: startTs,
    end_ts: endTs,
    duration_ms: durationMs,
    event_count: runCount(run),
    pageview_count: pageviewCount,
    landing_url: landing === NO_REF ? null : pool.get(landing),
    exit_url: exit === NO_REF ? null : pool.get(exit),
    referrer: firstReferrer === NO_REF ? null : pool.get(firstReferrer),
    utm_source: campaign?.utmSource ?? null,
    utm_medium: campaign?.utmMedium ?? null,
    utm_campaign: campaign?.utmCampaign ?? null,
    is_engaged: isEngaged,
    is_bounce: !isEngaged,
    converted,
    revenue,
    is_bot: isBot,
    split_reason: SPLIT_REASONS[reason],
    page_path: pagePath,
    page_items: pageItems,
    cart_adds: cartAdds
  };
}

// src/operators/sessionize-url.ts
var CAMPAIGN_PARAMETER = /(?:^|&)(?:utm_|gclid=)/;
function parseUrlParts(url) {
  let rest = url;
  let host = "";
  const schemeEnd = url.indexOf("://");
  const authorityStart = schemeEnd > 0 && schemeEnd < 16 ? schemeEnd + 3 : url.startsWith("//") ? 2 : -1;
  if (authorityStart >= 0) {
    let authorityEnd = authorityStart;
    while (authorityEnd < url.length && !"/?#".includes(url[authorityEnd])) authorityEnd++;
    host = url.slice(authorityStart, authorityEnd).toLowerCase();
    const userInfoEnd = host.lastIndexOf("@");
    if (userInfoEnd >= 0) host = host.slice(userInfoEnd + 1);
    if (host.startsWith("www.")) host = host.slice(4);
    rest = url.slice(authorityEnd);
  }
  const fragmentAt = rest.indexOf("#");
  if (fragmentAt >= 0) rest = rest.slice(0, fragmentAt);
  const queryAt = rest.indexOf("?");
  const path = queryAt >= 0 ? rest.slice(0, queryAt) : rest;
  const query = queryAt >= 0 ? rest.slice(queryAt + 1) : "";
  const parts = {
    host,
    path: path === "" && authorityStart >= 0 ? "/" : path,
    utmSource: null,
    utmMedium: null,
    utmCampaign: null,
    gclid: null
  };
  if (CAMPAIGN_PARAMETER.test(query)) {
    const params = new URLSearchParams(query);
    parts.utmSource = params.get("utm_source");
    parts.utmMedium = params.get("utm_medium");
    parts.utmCampaign = params.get("utm_campaign");
    parts.gclid = params.get("gclid");
  }
  return parts;
}
function campaignKey(url, referrer) {
  if (url !== void 0 && (url.utmSource ?? url.utmMedium ?? url.utmCampaign ?? url.gclid) !== null) {
    return `utm:${url.utmSource ?? ""}|${url.utmMedium ?? ""}|${url.utmCampaign ?? ""}|${url.gclid ?? ""}`;
  }
  if (url !== void 0 && referrer !== void 0 && url.host !== "" && referrer.host !== "" && referrer.host !== url.host) {
    return `ref:${referrer.host}`;
  }
  return "";
}

// src/operators/sessionize-strings.ts
var ENTRY_OVERHEAD_BYTES = 64;
var URL_PARTS_OVERHEAD_BYTES = 96;
var StringPool = class {
  #ids = /* @__PURE__ */ new Map();
  #strings = [];
  #refs = [];
  #free = [];
  #urlParts = [];
  #bytes = 0;
  /** Approximate bytes held by the pool. */
  get bytes() {
    return this.#bytes;
  }
  acquire(text) {
    const known = this.#ids.get(text);
    if (known !== void 0) {
      this.#refs[known]++;
      return known;
    }
    const id = this.#free.length > 0 ? this.#free.pop() : this.#strings.length;
    this.#strings[id] = text;
    this.#refs[id] = 1;
    this.#urlParts[id] = void 0;
    this.#ids.set(text, id);
    this.#bytes += ENTRY_OVERHEAD_BYTES + 2 * text.length;
    return id;
  }
  release(id) {
    if (--this.#refs[id] > 0) return;
    const text = this.#strings[id];
    this.#ids.delete(text);
    this.#bytes -= ENTRY_OVERHEAD_BYTES + 2 * text.length;
    if (this.#urlParts[id] !== void 0) this.#bytes -= URL_PARTS_OVERHEAD_BYTES + 2 * text.length;
    this.#strings[id] = null;
    this.#urlParts[id] = void 0;
    this.#free.push(id);
  }
  get(id) {
    return this.#strings[id];
  }
  /** The parsed url of a pooled string, cached while the string is pooled. */
  urlParts(id) {
    let parts = this.#urlParts[id];
    if (parts === void 0) {
      const text = this.#strings[id];
      parts = parseUrlParts(text);
      this.#urlParts[id] = parts;
      this.#bytes += URL_PARTS_OVERHEAD_BYTES + 2 * text.length;
    }
    return parts;
  }
  snapshot() {
    return { strings: this.#strings.slice(), refs: this.#refs.slice() };
  }
  restore(snapshot) {
    this.#ids.clear();
    this.#strings = snapshot.strings.slice();
    this.#refs = snapshot.refs.slice();
    this.#free = [];
    this.#urlParts = new Array(this.#strings.length).fill(void 0);
    this.#bytes = 0;
    for (let id = this.#strings.length - 1; id >= 0; id--) {
      const text = this.#strings[id];
      if (text === null) {
        this.#free.push(id);
      } else {
        this.#ids.set(text, id);
        this.#bytes += ENTRY_OVERHEAD_BYTES + 2 * text.length;
      }
    }
  }
};

// src/operators/sessionize-table.ts
var sessionsTable = {
  name: "sessions",
  partitionKey: "dt",
  partitionOf: (row) => formatUtcDay(row.start_ts),
  columns: [
    { name: "session_id", type: "string", nullable: false },
    { name: "version", type: "int32", nullable: false },
    { name: "retracted", type: "bool", nullable: false },
    { name: "site_id", type: "string" },
    { name: "visitor_id", type: "string", nullable: false },
    { name: "user_id", type: "string" },
    { name: "start_ts", type: "timestamp", nullable: false },
    { name: "end_ts", type: "timestamp", nullable: false },
    { name: "duration_ms", type: "int64", nullable: false },
    { name: "event_count", type: "int32", nullable: false },
    { name: "pageview_count", type: "int32", nullable: false },
    { name: "landing_url", type: "string" },
    { name: "exit_url", type: "string" },
    { name: "referrer", type: "string" },
    { name: "utm_source", type: "string" },
    { name: "utm_medium", type: "string" },
    { name: "utm_campaign", type: "string" },
    { name: "is_engaged", type: "bool", nullable: false },
    { name: "is_bounce", type: "bool", nullable: false },
    { name: "converted", type: "bool", nullable: false },
    { name: "revenue", type: "float64", nullable: false },
    { name: "is_bot", type: "bool", nullable: false },
    { name: "split_reason", type: "string", nullable: false },
    { name: "page_path", type: "list<string>", nullable: false },
    { name: "page_items", type: "list<string>", nullable: false }
  ]
};

// src/operators/sessionize-timers.ts
var DueQueue = class {
  #dues = [];
  #keys = [];
  get size() {
    return this.#dues.length;
  }
  /** Due time of the earliest entry, +∞ when empty. */
  peekDue() {
    return this.#dues.length > 0 ? this.#dues[0] : Infinity;
  }
  push(due, key) {
    const dues = this.#dues;
    const keys = this.#keys;
    let index = dues.length;
    dues.push(due);
    keys.push(key);
    while (index > 0) {
      const parent = index - 1 >> 1;
      if (dues[parent] <= due) break;
      dues[index] = dues[parent];
      keys[index] = keys[parent];
      index = parent;
    }
    dues[index] = due;
    keys[index] = key;
  }
  /** Removes the earliest entry and returns its key (call only when size > 0). */
  pop() {
    const dues = this.#dues;
    const keys = this.#keys;
    const top = keys[0];
    const lastDue = dues.pop();
    const lastKey = keys.pop();
    const size = dues.length;
    if (size === 0) return top;
    let index = 0;
    for (; ; ) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && dues[right] < dues[left] ? right : left;
      if (dues[child] >= lastDue) break;
      dues[index] = dues[child];
      keys[index] = keys[child];
      index = child;
    }
    dues[index] = lastDue;
    keys[index] = lastKey;
    return top;
  }
  snapshot() {
    return { dues: this.#dues.slice(), keys: this.#keys.slice() };
  }
  restore(snapshot) {
    this.#dues = snapshot.dues.slice();
    this.#keys = snapshot.keys.slice();
  }
};

// src/operators/sessionize.ts
var sessionizeConfig = z5.strictObject({
  type: z5.literal("sessionize"),
  gap: duration("30m").describe("Inactivity gap: an event within `gap` of a session joins it (touching windows merge)."),
  maxDuration: duration("12h").describe("A session never spans this long; the event at start + maxDuration begins a new one."),
  maxEvents: z5.number().int().positive().default(2500).describe("A session holds at most this many events."),
  splitAtMidnight: z5.string().optional().describe('IANA time zone; when set, sessions split at local midnight (e.g. "UTC", "Europe/Berlin").'),
  splitOnCampaignChange: z5.boolean().default(false).describe("Split when utm_*, gclid or an external referrer changes."),
  outOfOrderness: duration("1m").describe("Watermark = max event time per partition minus this."),
  allowedLateness: duration("1h").describe("Sessions stay retained (and updatable) until watermark \u2265 end + gap + this."),
  idleTimeout: duration("1m").describe("A partition silent this long (processing time) stops holding the watermark back."),
  maxFutureSkew: duration("5m").describe("An event cannot push the watermark past its received_at + this.")
}).describe("Sessionizes clickstreams per visitor in event time; writes the `sessions` table.");
var sessionizeExample = { type: "sessionize", gap: "30m", maxDuration: "12h", outOfOrderness: "1m", allowedLateness: "1h" };
var KIND_CODES = {
  page_view: KIND_PAGE_VIEW,
  click: KIND_CLICK,
  add_to_cart: KIND_ADD_TO_CART,
  purchase: KIND_PURCHASE,
  identify: KIND_IDENTIFY
};
var LATE_REASON2 = "too_late";
var VISITOR_BYTES = 280;
var EVENT_BYTES = EVENT_SLOTS * 8 * 1.25;
var SESSION_BYTES2 = 104;
var TIMER_ENTRY_BYTES = 24;
var TOMBSTONE_BYTES = 120;
var ID_SET_ENTRY_BYTES = 24;
function nonEmptyString(value) {
  return typeof value === "string" && value !== "";
}
function newSession(count, reason) {
  return { count, reason, version: 0, live: false, emittedCount: 0, emittedLastId: 0, emittedUser: null, emittedReason: 0 };
}
function rowOf(record) {
  return {
    session_id: record.session_id,
    version: record.version,
    retracted: record.retracted,
    site_id: record.site_id,
    visitor_id: record.visitor_id,
    user_id: record.user_id,
    start_ts: record.start_ts,
    end_ts: record.end_ts,
    duration_ms: record.duration_ms,
    event_count: record.event_count,
    pageview_count: record.pageview_count,
    landing_url: record.landing_url,
    exit_url: record.exit_url,
    referrer: record.referrer,
    utm_source: record.utm_source,
    utm_medium: record.utm_medium,
    utm_campaign: record.utm_campaign,
    is_engaged: record.is_engaged,
    is_bounce: record.is_bounce,
    converted: record.converted,
    revenue: record.revenue,
    is_bot: record.is_bot,
    split_reason: record.split_reason,
    page_path: record.page_path,
    page_items: record.page_items
  };
}
var Sessionizer = class {
  id = "sessionize";
  tables = [sessionsTable];
  #gap;
  #allowedLateness;
  #rules;
  #watermark;
  #pool = new StringPool();
  #visitors = /* @__PURE__ */ new Map();
  #timers = new DueQueue();
  #openSessions = 0;
  #reportedOpenSessions = Number.NaN;
  #retainedEvents = 0;
  #keyChars = 0;
  #tombstones = 0;
  constructor(config) {
    this.#gap = config.gap;
    this.#allowedLateness = config.allowedLateness;
    const calendar = config.splitAtMidnight === void 0 ? null : new LocalDayCalendar(config.splitAtMidnight);
    this.#rules = {
      gap: config.gap,
      maxDuration: config.maxDuration,
      maxEvents: config.maxEvents,
      dayOf: calendar === null ? null : (ts) => calendar.dayOf(ts),
      campaignOf: config.splitOnCampaignChange ? (events, index) => this.#campaignOf(events, index) : null
    };
    this.#watermark = new WatermarkTracker({
      outOfOrderness: config.outOfOrderness,
      idleTimeout: config.idleTimeout,
      maxFutureSkew: config.maxFutureSkew
    });
  }
  /** The operator's event-time watermark (−∞ before any event). */
  watermark() {
    return this.#watermark.current;
  }
  onEvent(event, origin, ctx) {
    const before2 = this.#watermark.current;
    if (nonEmptyString(event.anon_id)) this.#accept(event, event.anon_id, before2, ctx);
    const after = this.#watermark.observe(origin.partition, event.ts, event.received_at, ctx.now());
    if (after > before2) this.#advance(after, ctx);
    this.#reportOpenSessions(ctx);
  }
  /** The gauge changes on a minority of events; prom-client's set hashes its labels on every call. */
  #reportOpenSessions(ctx) {
    if (this.#openSessions === this.#reportedOpenSessions) return;
    this.#reportedOpenSessions = this.#openSessions;
    ctx.metrics.openSessions.set(this.#openSessions);
  }
  onTick(ctx) {
    const before2 = this.#watermark.current;
    const after = this.#watermark.tick(ctx.now());
    if (after > before2) this.#advance(after, ctx);
  }
  onEnd(ctx) {
    this.#watermark.advanceToEnd();
    this.#advance(Infinity, ctx);
    for (const visitor of [...this.#visitors.values()]) {
      this.#settle(visitor, Infinity, ctx);
      this.#dropIfEmpty(visitor);
    }
    ctx.metrics.openSessions.set(this.#openSessions);
  }
  snapshot() {
    const visitors = [];
    for (const visitor of this.#visitors.values()) {
      visitors.push({
        key: visitor.key,
        events: visitor.events.slice(),
        sessions: visitor.sessions.map((m) => [
          m.count,
          m.reason,
          m.version,
          m.live,
          m.emittedCount,
          m.emittedLastId,
          m.emittedUser,
          m.emittedReason
        ]),
        tombstones: visitor.tombstones === null ? null : visitor.tombstones.map((t) => ({ ...t })),
        carriedUser: visitor.carriedUser,
        scheduled: Number.isFinite(visitor.scheduled) ? visitor.scheduled : null
      });
    }
    return {
      format: 1,
      watermark: this.#watermark.snapshot(),
      pool: this.#pool.snapshot(),
      timers: this.#timers.snapshot(),
      visitors
    };
  }
  restore(state) {
    const snapshot = state;
    if (snapshot === null || typeof snapshot !== "object" || snapshot.format !== 1) {
      throw new Error("sessionize: cannot restore state: expected a snapshot with format 1");
    }
    this.#watermark.restore(snapshot.watermark);
    this.#pool.restore(snapshot.pool);
    this.#timers.restore(snapshot.timers);
    this.#visitors.clear();
    this.#openSessions = 0;
    this.#retainedEvents = 0;
    this.#keyChars = 0;
    this.#tombstones = 0;
    for (const saved of snapshot.visitors) {
      const visitor = new VisitorState(saved.key);
      visitor.events = saved.events.slice();
      visitor.reindex();
      visitor.sessions = saved.sessions.map(([count, reason, version, live, emittedCount, emittedLastId, emittedUser, emittedReason]) => ({
        count,
        reason,
        version,
        live,
        emittedCount,
        emittedLastId,
        emittedUser,
        emittedReason
      }));
      visitor.tombstones = saved.tombstones === null ? null : saved.tombstones.map((t) => ({ ...t }));
      visitor.carriedUser = saved.carriedUser;
      visitor.scheduled = saved.scheduled ?? Infinity;
      this.#visitors.set(visitor.key, visitor);
      this.#openSessions += visitor.sessions.length;
      this.#retainedEvents += visitor.eventCount;
      this.#keyChars += visitor.key.length;
      this.#tombstones += visitor.tombstones?.length ?? 0;
    }
  }
  stateBytes() {
    let idSetBytes = 0;
    for (const visitor of this.#visitors.values()) idSetBytes += visitor.idSetBytes;
    return Math.round(
      this.#visitors.size * VISITOR_BYTES + this.#keyChars * 2 + this.#retainedEvents * EVENT_BYTES + this.#openSessions * SESSION_BYTES2 + this.#tombstones * TOMBSTONE_BYTES + this.#timers.size * TIMER_ENTRY_BYTES + idSetBytes / 24 * ID_SET_ENTRY_BYTES + this.#pool.bytes
    );
  }
  #accept(event, anonId, watermark, ctx) {
    const key = visitorKey(typeof event.site_id === "string" ? event.site_id : void 0, anonId);
    let visitor = this.#visitors.get(key);
    if (visitor !== void 0) {
      this.#settle(visitor, watermark, ctx);
      if (this.#dropIfEmpty(visitor)) visitor = void 0;
    }
    const idHash = eventIdHash(event.event_id);
    if (visitor !== void 0 && visitor.hasEvent(idHash)) {
      ctx.metrics.eventsDuplicate.inc();
      return;
    }
    const ts = event.ts;
    const position = visitor === void 0 ? 0 : visitor.insertionPoint(ts, idHash);
    if (ts + this.#gap + this.#allowedLateness <= watermark && !this.#absorbable(visitor, position, ts)) {
      ctx.late(event, watermark, LATE_REASON2);
      ctx.metrics.eventsLate.inc();
      return;
    }
    if (visitor === void 0) {
      visitor = new VisitorState(key);
      this.#visitors.set(key, visitor);
      this.#keyChars += key.length;
    }
    const count = visitor.eventCount;
    visitor.insert(position, this.#slotsOf(event, idHash));
    this.#retainedEvents++;
    if (position === count) this.#append(visitor, watermark, ctx);
    else this.#insertEarlier(visitor, position, watermark, ctx);
    this.#schedule(visitor);
  }
  #absorbable(visitor, position, ts) {
    if (visitor === void 0) return false;
    if (position > 0 && ts - visitor.ts(position - 1) <= this.#gap) return true;
    return position < visitor.eventCount && visitor.ts(position) - ts <= this.#gap;
  }
  #slotsOf(event, idHash) {
    const kind = KIND_CODES[event.type] ?? KIND_CLICK;
    const kindFlags = event.is_bot === true ? kind | BOT_FLAG : kind;
    const url = nonEmptyString(event.url) ? this.#pool.acquire(event.url) : NO_REF;
    const referrer = nonEmptyString(event.referrer) ? this.#pool.acquire(event.referrer) : NO_REF;
    let itemOrRevenue = NO_REF;
    if (kind === KIND_PURCHASE) {
      itemOrRevenue = typeof event.revenue === "number" && Number.isFinite(event.revenue) ? event.revenue : 0;
    } else if (kind === KIND_PAGE_VIEW && nonEmptyString(event.page_item)) {
      itemOrRevenue = this.#pool.acquire(event.page_item);
    }
    const user = nonEmptyString(event.user_id) ? this.#pool.acquire(event.user_id) : NO_REF;
    return [event.ts, packIdKind(idHash, kindFlags), packPage(url, referrer), itemOrRevenue, user];
  }
  #campaignOf(events, index) {
    const page = events[index * EVENT_SLOTS + PAGE];
    const url = urlOf(page);
    const referrer = referrerOf(page);
    return campaignKey(
      url === NO_REF ? void 0 : this.#pool.urlParts(url),
      referrer === NO_REF ? void 0 : this.#pool.urlParts(referrer)
    );
  }
  /** The new event is the visitor's latest: it joins the last session or begins one (the common, O(1) case). */
  #append(visitor, watermark, ctx) {
    const index = visitor.eventCount - 1;
    const sessions = visitor.sessions;
    const last = sessions[sessions.length - 1];
    let reason = REASON_GAP;
    if (last !== void 0) {
      const start = index - last.count;
      reason = splitReason(visitor.events, start, index, this.#rules, sessionCampaign(visitor.events, start, this.#rules));
      if (reason === NO_SPLIT) {
        last.count++;
        this.#reconcile(visitor, sessions.length - 1, start, watermark, ctx);
        return;
      }
    }
    sessions.push(newSession(1, reason));
    this.#openSessions++;
    this.#reconcile(visitor, sessions.length - 1, index, watermark, ctx);
  }
  /**
   * The new event (now at `position`) lands before later events: re-segment from the session holding its
   * predecessor, keep metas whose first event is unchanged, retract emitted sessions that no longer begin a session.
   */
  #insertEarlier(visitor, position, watermark, ctx) {
    const sessions = visitor.sessions;
    let first = 0;
    let start = 0;
    if (position > 0) {
      while (start + sessions[first].count <= position - 1) start += sessions[first++].count;
    }
    const firstReason = position === 0 ? REASON_GAP : sessions[first].reason;
    const previous = sessions.splice(first);
    const fresh = segment(visitor.events, start, visitor.eventCount, firstReason, this.#rules);
    const previousRuns = [];
    let oldStart = start;
    for (const meta of previous) {
      const from = oldStart >= position ? oldStart + 1 : oldStart;
      const holdsNewEvent = from <= position && position <= from + meta.count;
      previousRuns.push({ from, to: from + meta.count + (holdsNewEvent ? 1 : 0), skip: position });
      oldStart += meta.count;
    }
    let next = 0;
    let freshStart = start;
    for (const { count, reason } of fresh) {
      while (next < previous.length && previousRuns[next].from < freshStart) {
        this.#retire(visitor, previous[next], previousRuns[next], ctx);
        next++;
      }
      let meta;
      if (next < previous.length && previousRuns[next].from === freshStart) {
        meta = previous[next++];
        meta.count = count;
        meta.reason = reason;
      } else {
        meta = this.#revive(visitor, { from: freshStart, to: freshStart + count, skip: -1 }, count, reason);
      }
      sessions.push(meta);
      freshStart += count;
    }
    while (next < previous.length) {
      this.#retire(visitor, previous[next], previousRuns[next], ctx);
      next++;
    }
    this.#reconcile(visitor, first, start, watermark, ctx);
  }
  /** A session that no longer begins a session: retract it if it is live, remember its id's version. */
  #retire(visitor, meta, run, ctx) {
    this.#openSessions--;
    if (meta.live) this.#emit(visitor, meta, run, true, ctx);
    if (meta.version === 0) return;
    visitor.tombstones ??= [];
    visitor.tombstones.push({ sessionId: runSessionId(visitor, run), version: meta.version, firstTs: visitor.ts(run.from === run.skip ? run.from + 1 : run.from) });
    this.#tombstones++;
  }
  /** A new session; if its id was retracted before, it continues that id's versions. */
  #revive(visitor, run, count, reason) {
    this.#openSessions++;
    const meta = newSession(count, reason);
    const tombstones = visitor.tombstones;
    if (tombstones === null) return meta;
    const sessionId = sessionIdOf(visitor.key, visitor.ts(run.from), visitor.idHash(run.from));
    const found = tombstones.findIndex((t) => t.sessionId === sessionId);
    if (found >= 0) {
      meta.version = tombstones[found].version;
      tombstones.splice(found, 1);
      this.#tombstones--;
    }
    return meta;
  }
  /** Emits what changed from session `fromSession` (starting at event `fromIndex`) on: updates of live sessions, due finals. */
  #reconcile(visitor, fromSession, fromIndex, watermark, ctx) {
    const sessions = visitor.sessions;
    let start = fromIndex;
    for (let k = fromSession; k < sessions.length; k++) {
      const meta = sessions[k];
      const run = { from: start, to: start + meta.count, skip: -1 };
      start = run.to;
      if (meta.live) {
        if (meta.count !== meta.emittedCount || meta.reason !== meta.emittedReason || runLastIdHash(visitor, run) !== meta.emittedLastId || runUser(visitor, this.#pool, run) !== meta.emittedUser) {
          this.#emit(visitor, meta, run, false, ctx);
        }
      } else if (visitor.ts(run.to - 1) + this.#gap < watermark) {
        this.#emit(visitor, meta, run, false, ctx);
      }
    }
  }
  /** Emits due finals (rule 5: watermark past end + gap) and evicts sessions past end + gap + allowedLateness. */
  #settle(visitor, watermark, ctx) {
    const sessions = visitor.sessions;
    let start = 0;
    let evictedSessions = 0;
    let evictedEvents = 0;
    for (let k = 0; k < sessions.length; k++) {
      const meta = sessions[k];
      const run = { from: start, to: start + meta.count, skip: -1 };
      start = run.to;
      const closesAt = visitor.ts(run.to - 1) + this.#gap;
      const evictable = evictedSessions === k && closesAt + this.#allowedLateness <= watermark;
      if (!meta.live && (closesAt < watermark || evictable)) this.#emit(visitor, meta, run, false, ctx);
      if (evictable) {
        evictedSessions++;
        evictedEvents = run.to;
      }
    }
    if (evictedSessions > 0) this.#evict(visitor, evictedSessions, evictedEvents);
  }
  #evict(visitor, sessionCount, eventCount) {
    visitor.sessions.splice(0, sessionCount);
    this.#openSessions -= sessionCount;
    const removed = visitor.removePrefix(eventCount);
    this.#retainedEvents -= eventCount;
    const pool = this.#pool;
    let latestUser = null;
    for (let base = removed.length - EVENT_SLOTS; base >= 0; base -= EVENT_SLOTS) {
      const user = removed[base + USER];
      if (user !== NO_REF) {
        latestUser ??= pool.get(user);
        pool.release(user);
      }
      const page = removed[base + PAGE];
      const url = urlOf(page);
      const referrer = referrerOf(page);
      if (url !== NO_REF) pool.release(url);
      if (referrer !== NO_REF) pool.release(referrer);
      const item = removed[base + ITEM_OR_REVENUE];
      if ((kindFlagsOf(removed[base + ID_KIND]) & BOT_FLAG - 1) === KIND_PAGE_VIEW && item !== NO_REF) pool.release(item);
    }
    if (latestUser !== null) visitor.carriedUser = latestUser;
    if (visitor.tombstones !== null) {
      const firstTs = visitor.eventCount > 0 ? visitor.ts(0) : Infinity;
      const kept = visitor.tombstones.filter((t) => t.firstTs >= firstTs);
      this.#tombstones -= visitor.tombstones.length - kept.length;
      visitor.tombstones = kept.length > 0 ? kept : null;
    }
  }
  #dropIfEmpty(visitor) {
    if (visitor.sessions.length > 0) return false;
    this.#visitors.delete(visitor.key);
    this.#keyChars -= visitor.key.length;
    this.#tombstones -= visitor.tombstones?.length ?? 0;
    return true;
  }
  /** When the visitor next needs attention: a final (end + gap) or an eviction (end + gap + allowedLateness). */
  #nextDue(visitor) {
    let due = Infinity;
    let start = 0;
    for (const meta of visitor.sessions) {
      start += meta.count;
      const closesAt = visitor.ts(start - 1) + this.#gap;
      const sessionDue = meta.live ? closesAt + this.#allowedLateness : closesAt;
      if (sessionDue < due) due = sessionDue;
    }
    return due;
  }
  #schedule(visitor) {
    const due = this.#nextDue(visitor);
    if (due < visitor.scheduled) {
      this.#timers.push(due, visitor.key);
      visitor.scheduled = due;
    }
  }
  /** The watermark advanced: fire due timers, then tell session consumers. */
  #advance(watermark, ctx) {
    const timers = this.#timers;
    while (timers.size > 0 && timers.peekDue() < watermark) {
      const due = timers.peekDue();
      const visitor = this.#visitors.get(timers.pop());
      if (visitor === void 0) continue;
      if (due === visitor.scheduled) visitor.scheduled = Infinity;
      this.#settle(visitor, watermark, ctx);
      if (!this.#dropIfEmpty(visitor)) this.#schedule(visitor);
    }
    ctx.emitSessionWatermark(watermark);
  }
  #emit(visitor, meta, run, retracted, ctx) {
    const version = meta.version + 1;
    const record = buildSessionRecord(visitor, this.#pool, run, version, retracted, meta.reason);
    meta.version = version;
    meta.live = !retracted;
    if (!retracted) {
      meta.emittedCount = record.event_count;
      meta.emittedLastId = runLastIdHash(visitor, run);
      meta.emittedUser = record.user_id;
      meta.emittedReason = meta.reason;
    }
    const kind = retracted ? "retraction" : version === 1 ? "final" : "update";
    ctx.metrics.sessionsEmitted.inc({ kind });
    if (kind === "final") ctx.metrics.sessionDuration.observe(record.duration_ms / 1e3);
    ctx.emit("sessions", rowOf(record));
    ctx.emitSession(record);
  }
};
function createSessionize(config, _environment) {
  return new Sessionizer(config);
}

// src/operators/index.ts
function entry(config, create, example) {
  return { config, create, example };
}
var operatorRegistry = {
  sessionize: entry(sessionizeConfig, createSessionize, sessionizeExample),
  sequencePatterns: entry(sequencePatternsConfig, createSequencePatterns, sequencePatternsExample),
  basket: entry(basketConfig, createBasket, basketExample),
  churnFeatures: entry(churnFeaturesConfig, createChurnFeatures, churnFeaturesExample)
};
var operatorConfigSchemas = [
  sessionizeConfig,
  sequencePatternsConfig,
  basketConfig,
  churnFeaturesConfig
];
function createOperator(config, environment) {
  switch (config.type) {
    case "sessionize":
      return createSessionize(config, environment);
    case "sequencePatterns":
      return createSequencePatterns(config, environment);
    case "basket":
      return createBasket(config, environment);
    case "churnFeatures":
      return createChurnFeatures(config, environment);
  }
}

// src/config/ingest.ts
import { z as z6 } from "zod";
var PAGE_EXCLUSIONS = ["static", "1xx", "2xx", "3xx", "4xx", "5xx", "non2xx", "nonGet"];
var DEFAULT_STATIC_EXTENSIONS = [
  "css",
  "js",
  "mjs",
  "map",
  "png",
  "jpg",
  "jpeg",
  "gif",
  "svg",
  "ico",
  "webp",
  "avif",
  "bmp",
  "woff",
  "woff2",
  "ttf",
  "eot",
  "otf",
  "mp4",
  "webm",
  "mp3",
  "ogg",
  "wav",
  "pdf",
  "zip",
  "gz",
  "tgz",
  "xml",
  "txt",
  "json",
  "rss",
  "atom"
];
var urlRuleConfig = z6.strictObject({
  match: z6.string().min(1).describe('Path template with :params and * (e.g. "/c/:category/p/:id").'),
  item: z6.string().min(1).describe('The page item built from the params (e.g. ":category", "product/:id").')
}).describe("Maps a URL path to a page item; the first matching rule wins.");
var ingestConfig = z6.strictObject({
  pages: z6.union([
    z6.literal("all"),
    z6.strictObject({
      exclude: z6.array(z6.enum(PAGE_EXCLUSIONS)).default(["static", "non2xx"])
    })
  ]).default({ exclude: ["static", "non2xx"] }).describe("Which requests become page views: `all`, or `{ exclude: [static, 1xx\u20265xx, non2xx, nonGet] }`."),
  staticExtensions: z6.array(z6.string()).default(DEFAULT_STATIC_EXTENSIONS).describe("File extensions that count as static assets for `pages.exclude: [static]`."),
  urlRules: z6.array(urlRuleConfig).default([]).describe("URL \u2192 page item rules; default none (item = path)."),
  bots: z6.enum(["flag", "drop"]).default("flag").describe("flag: keep bots and set is_bot; drop: send them to the `bots` table before any operator."),
  botRate: z6.strictObject({
    maxEvents: z6.number().int().positive().default(100).describe("Events allowed per visitor within perSeconds [100]."),
    perSeconds: z6.number().positive().default(100).describe("The rate window in seconds [100].")
  }).default({ maxEvents: 100, perSeconds: 100 }).describe("A visitor sending more than maxEvents in perSeconds is a bot."),
  privacy: z6.strictObject({
    anonymizeIp: z6.boolean().default(true).describe("Zero the IPv4 last octet / IPv6 last ipv6Bits bits."),
    ipv6Bits: z6.number().int().min(0).max(128).default(80).describe("IPv6 bits zeroed from the end [80]."),
    pseudonymize: z6.array(z6.enum(["user_id", "anon_id"])).default([]).describe("Fields replaced by HMAC-SHA256 under CLICKPIPE_PSEUDONYM_KEY."),
    dropFields: z6.array(z6.string()).default([]).describe("PII fields removed everywhere (e.g. email, name, phone, address).")
  }).default({ anonymizeIp: true, ipv6Bits: 80, pseudonymize: [], dropFields: [] }).describe("Privacy before anything is stored: IP anonymization, pseudonymization, PII fields dropped."),
  visitorKey: z6.string().optional().describe("Secret for the keyed IP + user-agent visitor hash of access logs; default from CLICKPIPE_VISITOR_KEY, else the pipeline name.")
}).describe("Edge processing, the same for the collector, `clickpipe publish` and the log tailer.");
var defaultIngestConfig = ingestConfig.parse({});

// src/config/pipeline.ts
var STREAM_NAME = /^[^\s.*>/\\]+$/;
var SUBJECT = /^[^\s.*>]+(?:\.[^\s.*>]+)*$/;
var port = (fallback) => z7.number().int().min(0).max(65535).default(fallback);
var natsSection = z7.strictObject({
  url: z7.string().min(1).default("nats://127.0.0.1:4222").describe("Server URL(s), comma-separated; default nats://127.0.0.1:4222."),
  stream: z7.string().max(255).regex(STREAM_NAME, { error: "a JetStream stream name cannot be empty or contain spaces, dots, *, > or slashes" }).describe("JetStream stream (required), created if missing; subjects <stream>.events.<p> and <stream>.dlq."),
  partitions: z7.number().int().min(1).max(1024).default(1).describe("Partitions of the stream (<stream>.events.<p>); default 1."),
  credentials: z7.string().min(1).optional().describe("Path to a NATS .creds file (JWT + NKey seed); default none."),
  user: z7.string().optional().describe("User name (with password); default none."),
  password: z7.string().optional().describe("Password for user; default none."),
  token: z7.string().optional().describe("Authentication token; default none."),
  tls: z7.strictObject({
    ca: z7.string().min(1).optional().describe("CA certificate file (PEM) trusted for the server."),
    cert: z7.string().min(1).optional().describe("Client certificate file (PEM), with key."),
    key: z7.string().min(1).optional().describe("Client private key file (PEM), with cert.")
  }).optional().describe("TLS files {ca, cert, key}; default none (plain TCP unless the URL says tls://).")
}).describe("The NATS server and the JetStream stream the pipeline reads.");
var httpSource = z7.strictObject({
  type: z7.literal("http"),
  port: port(8080).describe("Listen port; default 8080 (0 picks a free one)."),
  host: z7.string().min(1).default("0.0.0.0").describe('Listen address; default "0.0.0.0".'),
  writeKeys: z7.array(z7.string().min(1)).min(1).describe("Accepted write keys (required, at least one)."),
  allowedOrigins: z7.array(z7.string().min(1)).default([]).describe("CORS origins allowed to post; default [] (none)."),
  trustedProxies: z7.array(z7.string().min(1)).default([]).describe("Proxy addresses/CIDRs whose X-Forwarded-For is believed; default [] (none)."),
  rateLimit: z7.strictObject({
    requestsPerSecond: z7.number().positive().default(100).describe("Sustained requests per second per client; default 100."),
    burst: z7.number().int().positive().default(200).describe("Bucket size per client; default 200.")
  }).prefault({}).describe("Token bucket per client IP; default 100/s, burst 200."),
  maxEventBytes: z7.number().int().positive().default(32768).describe("Largest event; default 32768 (32 KiB)."),
  maxRequestBytes: z7.number().int().positive().default(524288).describe("Largest request body; default 524288 (512 KiB)."),
  maxBatchEvents: z7.number().int().positive().default(2500).describe("Most events in one request; default 2500.")
}).describe("HTTP collector: POST /v1/events, GET /v1/pixel.gif.");
var accessLogSource = z7.strictObject({
  type: z7.literal("accessLog"),
  paths: z7.array(z7.string().min(1)).min(1).describe("Log files to tail (required, at least one); rotation is followed."),
  format: z7.string().min(1).default("combined").describe('"combined", "common", an nginx log_format string ($variables) or an Apache LogFormat string (%h %t \u2026); default "combined".'),
  pollInterval: duration("1s").describe('How often the files are checked for new lines; default "1s".')
}).describe("Tails web server access logs; each request becomes a page_view.");
var sourceConfig = z7.discriminatedUnion("type", [httpSource, accessLogSource]);
var parquetSink = z7.strictObject({
  type: z7.literal("parquet"),
  path: z7.string().min(1).describe("Output directory (required): <path>/<table>/<partition>/part-*.parquet."),
  compression: z7.enum(["zstd", "snappy", "none"]).default("zstd").describe("Parquet compression; default zstd."),
  rowGroupSize: z7.number().int().positive().default(1e5).describe("Rows per row group; default 100000.")
}).describe("Writes every table as Parquet, atomically, with deterministic part names.");
var natsSink = z7.strictObject({
  type: z7.literal("nats"),
  subject: z7.string().regex(SUBJECT, { error: "a subject prefix is dot-separated tokens without spaces, * or >" }).describe("Subject prefix (required): rows are republished on <subject>.<table>."),
  tables: z7.array(z7.string().min(1)).optional().describe("Tables to republish; default every table.")
}).describe("Republishes output rows as JSON on NATS (optional, besides Parquet).");
var sinkConfig = z7.discriminatedUnion("type", [parquetSink, natsSink]);
var metricsSection = z7.strictObject({
  port: port(9464).describe("Port of the Prometheus /metrics endpoint; default 9464."),
  host: z7.string().min(1).default("0.0.0.0").describe('Listen address; default "0.0.0.0".')
}).describe("Prometheus metrics server; omitted: none (tests and backfills).");
var checkpointSection = z7.strictObject({
  interval: duration("10s").describe('Time between checkpoints; default "10s".'),
  store: z7.enum(["directory", "kv"]).default("directory").describe("directory: <first parquet sink path>/_checkpoints/<name>/; kv: a NATS KV bucket. Default directory.")
}).describe("How often and where state and stream positions are committed.");
var operatorConfig = z7.discriminatedUnion("type", [...operatorConfigSchemas]);
var pipelineObject = z7.strictObject({
  name: z7.string().regex(/^[A-Za-z0-9_-]+$/, { error: "a pipeline name uses only letters, digits, _ and -" }).describe("Pipeline name (required): letters, digits, _ and -; keys checkpoints and metrics."),
  nats: natsSection,
  ingest: ingestConfig.prefault({}).describe("Edge processing (pages, urlRules, bots, privacy); defaults in src/config/ingest.ts."),
  sources: z7.array(sourceConfig).optional().describe("Inputs feeding the stream (http, accessLog); default none."),
  operators: z7.array(operatorConfig).default([]).describe("Operators, one of each type at most; default []."),
  sinks: z7.array(sinkConfig).min(1).describe("Outputs (required): at least one parquet sink."),
  metrics: metricsSection.optional().describe("Prometheus metrics {port: 9464, host: 0.0.0.0}; omitted: no metrics server."),
  // duration() is typed as a union, which makes its key look required in the input type; {} is a valid input.
  checkpoint: checkpointSection.prefault({}).describe('Checkpoints {interval: "10s", store: directory}.')
});
var TABLE_WRITERS = {
  sessions: "sessionize",
  patterns: "sequencePatterns",
  basket_rules: "basket",
  cross_sell: "basket",
  customer_features: "churnFeatures",
  invalid_events: void 0,
  late_events: void 0,
  bots: void 0
};
var ZERO_ALLOWED = /* @__PURE__ */ new Set(["outOfOrderness", "allowedLateness", "maxFutureSkew"]);
function pipelineRuleViolations(config) {
  return [
    ...durationViolations(config),
    ...operatorViolations(config),
    ...sinkViolations(config),
    ...natsViolations(config),
    ...portViolations(config),
    ...logFormatViolations(config)
  ];
}
function durationViolations(config) {
  return durationsIn(pipelineObject, config).filter(({ path, ms }) => ms <= 0 && !ZERO_ALLOWED.has(String(path[path.length - 1]))).map(({ path }) => ({ path, message: "must be a positive duration", hint: 'Use a length of time like "30s" or "30m".' }));
}
function operatorViolations(config) {
  const violations = [];
  const firstIndex2 = /* @__PURE__ */ new Map();
  config.operators.forEach((operator, index) => {
    const earlier = firstIndex2.get(operator.type);
    if (earlier === void 0) firstIndex2.set(operator.type, index);
    else
      violations.push({
        path: ["operators", index, "type"],
        message: `a second ${operator.type} operator (the first is operators[${earlier}])`,
        hint: "Step ids are the operator types, so each type appears at most once; merge the two."
      });
  });
  config.operators.forEach((operator, index) => {
    if (operator.type === "sequencePatterns" && !firstIndex2.has("sessionize")) {
      violations.push({
        path: ["operators", index],
        message: "sequencePatterns mines sessions, but the pipeline has no sessionize operator",
        hint: "Add `- type: sessionize` to operators."
      });
    }
    if (operator.type === "sequencePatterns" && operator.every !== void 0 && operator.every > operator.window) {
      violations.push({
        path: ["operators", index, "every"],
        message: "the hop (every) is longer than the window, so some sessions would fall in no window",
        hint: "Make every at most window, or omit it for tumbling windows."
      });
    }
    if (operator.type === "sequencePatterns" && operator.minSupport >= 1 && !Number.isInteger(operator.minSupport)) {
      violations.push({
        path: ["operators", index, "minSupport"],
        message: `minSupport ${operator.minSupport} is neither a ratio in (0,1) nor a whole count`,
        hint: "Write a ratio like 0.01 or a count like 5."
      });
    }
  });
  return violations;
}
function sinkViolations(config) {
  const violations = [];
  if (config.sinks.length > 0 && !config.sinks.some((sink) => sink.type === "parquet")) {
    violations.push({
      path: ["sinks"],
      message: "no parquet sink: tables and checkpoints are written under the first parquet sink's path",
      hint: "Add `- type: parquet` with a path."
    });
  }
  const operatorTypes = new Set(config.operators.map((operator) => operator.type));
  config.sinks.forEach((sink, sinkIndex) => {
    if (sink.type !== "nats") return;
    (sink.tables ?? []).forEach((table, tableIndex) => {
      const path = ["sinks", sinkIndex, "tables", tableIndex];
      if (!(table in TABLE_WRITERS)) {
        violations.push({ path, message: `unknown table "${table}"`, hint: `Tables: ${Object.keys(TABLE_WRITERS).join(", ")}.` });
        return;
      }
      const writer = TABLE_WRITERS[table];
      if (writer !== void 0 && !operatorTypes.has(writer)) {
        violations.push({ path, message: `table "${table}" is written by a ${writer} operator, and the pipeline has none`, hint: `Add a ${writer} operator or drop the table.` });
      }
    });
  });
  return violations;
}
function natsViolations(config) {
  const { user, password, token, tls } = config.nats;
  const violations = [];
  if (user === void 0 !== (password === void 0)) {
    violations.push({
      path: ["nats", user === void 0 ? "password" : "user"],
      message: "user and password go together",
      hint: "Set both (e.g. from ${NATS_USER} and ${NATS_PASSWORD}) or neither."
    });
  }
  if (token !== void 0 && user !== void 0) {
    violations.push({ path: ["nats", "token"], message: "token and user/password are two ways to log in; pick one" });
  }
  if (tls !== void 0 && tls.cert === void 0 !== (tls.key === void 0)) {
    violations.push({ path: ["nats", "tls"], message: "a client certificate needs its key (cert and key go together)" });
  }
  return violations;
}
function portViolations(config) {
  const taken = /* @__PURE__ */ new Map();
  const violations = [];
  const claim = (portNumber, path) => {
    if (portNumber === 0) return;
    const owner = taken.get(portNumber);
    if (owner === void 0) taken.set(portNumber, formatPath(path));
    else violations.push({ path, message: `port ${portNumber} is already used by ${owner}`, hint: "Give each server its own port." });
  };
  (config.sources ?? []).forEach((source, index) => {
    if (source.type === "http") claim(source.port, ["sources", index, "port"]);
  });
  if (config.metrics !== void 0) claim(config.metrics.port, ["metrics", "port"]);
  return violations;
}
var NAMED_LOG_FORMATS = ["combined", "common"];
function logFormatViolations(config) {
  const violations = [];
  (config.sources ?? []).forEach((source, index) => {
    if (source.type !== "accessLog" || NAMED_LOG_FORMATS.includes(source.format) || /\$[a-z_]+|%[>{a-zA-Z]/.test(source.format)) return;
    const suggestion = closestMatch(source.format, NAMED_LOG_FORMATS);
    violations.push({
      path: ["sources", index, "format"],
      message: `unknown log format "${source.format}"`,
      hint: `${suggestion === void 0 ? "" : `Did you mean "${suggestion}"? `}Use combined, common, an Apache LogFormat string such as '%h %l %u %t "%r" %>s %b', or an nginx log_format string such as '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'.`
    });
  });
  return violations;
}
var pipelineSchema = pipelineObject.superRefine((config, ctx) => {
  for (const violation of pipelineRuleViolations(config)) {
    ctx.addIssue({ code: "custom", path: violation.path, message: violation.message, params: { hint: violation.hint } });
  }
});

// src/config/yaml-positions.ts
import { isMap as isMap2, isScalar as isScalar2, isSeq as isSeq2 } from "yaml";
function locate(doc, lineCounter, path) {
  let node = doc.contents;
  let offset = node?.range?.[0] ?? 0;
  for (const segment2 of path) {
    let next;
    if (isMap2(node)) {
      const pair = node.items.find((item) => (isScalar2(item.key) ? item.key.value : item.key) === segment2);
      if (pair !== void 0) next = { at: pair.key?.range?.[0], node: pair.value };
    } else if (isSeq2(node) && typeof segment2 === "number") {
      const item = node.items[segment2];
      if (item !== void 0) next = { at: item?.range?.[0], node: item };
    }
    if (next === void 0 || next.at === void 0) return { ...linePos(lineCounter, offset), exact: false };
    offset = next.at;
    node = next.node;
  }
  return { ...linePos(lineCounter, offset), exact: true };
}
function linePos(lineCounter, offset) {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

// src/config/load.ts
function parsePipelineText(text, fileName, env = process.env) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) return { ok: false, errors: doc.errors.map((error) => yamlSyntaxError(error, lineCounter)) };
  if (!isMap3(doc.contents)) {
    return {
      ok: false,
      errors: [{ path: "", line: 1, column: 1, message: `${fileName} holds no pipeline mapping`, hint: "Start with `name:`, `nats:` (with `stream:`) and `sinks:`." }]
    };
  }
  const variableErrors = expandDocument(doc, lineCounter, env);
  const input = doc.toJS();
  const parsed = pipelineSchema.safeParse(input);
  const unexpanded = new Set(variableErrors.map((error) => error.path));
  const context = { schema: pipelineSchema, input, locate: (path) => locate(doc, lineCounter, path) };
  const schemaErrors = parsed.success ? [] : parsed.error.issues.flatMap((issue) => issueToErrors(issue, context)).filter((error) => !unexpanded.has(error.path));
  const errors = [...variableErrors, ...schemaErrors];
  if (errors.length > 0 || !parsed.success) return { ok: false, errors: sortByPlace(errors) };
  return { ok: true, config: parsed.data, expanded: doc.toString({ lineWidth: 0 }) };
}
function yamlSyntaxError(error, lineCounter) {
  const { line, column } = linePos(lineCounter, error.pos[0]);
  return { path: "", line, column, message: `YAML syntax: ${error.message}`, hint: "Check indentation, colons and quotes on this line or the one above." };
}
function sortByPlace(errors) {
  return errors.map((error, index) => ({ error, index })).sort((a, b) => (a.error.line ?? 0) - (b.error.line ?? 0) || (a.error.column ?? 0) - (b.error.column ?? 0) || a.index - b.index).map(({ error }) => error);
}

// src/events/event.ts
var EVENT_TYPES = ["page_view", "click", "add_to_cart", "purchase", "identify"];

// src/events/event-id.ts
import { createHash } from "node:crypto";
var DERIVED_EVENT_ID_LENGTH = 22;
function canonicalJson(value) {
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    let out2 = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out2 += ",";
      const item = value[i];
      out2 += item === void 0 || typeof item === "function" ? "null" : canonicalJson(item);
    }
    return out2 + "]";
  }
  const record = value;
  const keys = Object.keys(record).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const field = record[key];
    if (field === void 0 || typeof field === "function") continue;
    if (!first) out += ",";
    first = false;
    out += quotedKey(key) + canonicalJson(field);
  }
  return out + "}";
}
var QUOTED_KEYS = /* @__PURE__ */ new Map();
var MAX_CACHED_KEYS = 1024;
function quotedKey(key) {
  let quoted = QUOTED_KEYS.get(key);
  if (quoted === void 0) {
    quoted = JSON.stringify(key) + ":";
    if (QUOTED_KEYS.size < MAX_CACHED_KEYS) QUOTED_KEYS.set(key, quoted);
  }
  return quoted;
}
function deriveEventId(record, tsEpochMs) {
  const keys = Object.keys(record).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    if (key === "event_id" || key === "received_at") continue;
    const field = key === "ts" ? tsEpochMs : record[key];
    if (field === void 0 || typeof field === "function") continue;
    if (!first) out += ",";
    first = false;
    out += quotedKey(key) + canonicalJson(field);
  }
  out += "}";
  return createHash("sha256").update(out).digest("base64url").slice(0, DERIVED_EVENT_ID_LENGTH);
}

// src/events/schema.ts
import { z as z8 } from "zod";
var EVENT_FIELDS = {
  event_id: "id",
  anon_id: "id",
  user_id: "id",
  site_id: "id",
  received_at: "instant",
  ip: "string",
  ua: "string",
  url: "string",
  referrer: "string",
  title: "string",
  sku: "id",
  price: "price",
  qty: "quantity",
  order_id: "id",
  revenue: "amount",
  currency: "string",
  items: "items",
  is_bot: "boolean",
  page_item: "string"
};
var ITEM_FIELDS = {
  sku: "id",
  category: "string",
  price: "price",
  qty: "quantity"
};
var REQUIRED_FIELDS = {
  page_view: ["url"],
  click: [],
  add_to_cart: ["sku"],
  purchase: ["order_id", "revenue"],
  identify: ["anon_id", "user_id"]
};
var NON_EMPTY_REQUIRED = /* @__PURE__ */ new Set(["url"]);
var KIND_EXPECTATIONS = {
  string: "a string",
  id: "a non-empty string",
  amount: "a number",
  price: "a number \u2265 0",
  quantity: "a number > 0",
  boolean: "true or false",
  instant: "epoch milliseconds or ISO 8601 with an offset",
  items: "an array of objects"
};
var TS_EXPECTATION = "ISO 8601 with an offset (or Z) or epoch milliseconds \u2265 0";
function zodKind(kind) {
  switch (kind) {
    case "string":
      return z8.string();
    case "id":
      return z8.string().min(1);
    case "amount":
      return z8.number();
    case "price":
      return z8.number().min(0);
    case "quantity":
      return z8.number().gt(0);
    case "boolean":
      return z8.boolean();
    case "instant":
      return z8.union([z8.number(), z8.string()]).refine((value) => parseEventTime(value) !== void 0, KIND_EXPECTATIONS.instant);
    case "items":
      return z8.array(purchaseItemSchema);
  }
}
function optionalShape(fields) {
  const shape = {};
  for (const [name, kind] of Object.entries(fields)) {
    shape[name] = zodKind(kind).nullish();
  }
  return shape;
}
var purchaseItemSchema = z8.looseObject({
  sku: z8.string().min(1).nullish().describe("The product's stock keeping unit."),
  category: z8.string().nullish().describe("The product's category (the basket operator's item when configured)."),
  price: z8.number().min(0).nullish().describe("Unit price."),
  qty: z8.number().gt(0).nullish().describe("Quantity.")
}).describe("One line of an order; unknown fields pass through.");
var eventTime = z8.union([z8.number(), z8.string()]).refine((value) => parseEventTime(value) !== void 0, TS_EXPECTATION).describe('Event time: ISO 8601 with an offset ("2015-05-17T10:05:03+02:00") or epoch milliseconds.');
function eventSchema(type, description) {
  const shape = { ...optionalShape(EVENT_FIELDS), type: z8.literal(type), ts: eventTime };
  for (const name of REQUIRED_FIELDS[type]) {
    const kind = EVENT_FIELDS[name];
    shape[name] = NON_EMPTY_REQUIRED.has(name) ? z8.string().min(1) : zodKind(kind);
  }
  return z8.looseObject(shape).refine((event) => typeof event.anon_id === "string" || typeof event.user_id === "string", {
    message: "at least one of anon_id or user_id is required",
    path: ["anon_id"]
  }).describe(description);
}
var pageViewSchema = eventSchema("page_view", 'A page was shown: `url` required; `referrer` (may be "") and `title` optional.');
var clickSchema = eventSchema("click", "An element was clicked.");
var addToCartSchema = eventSchema("add_to_cart", "A product went into the cart: `sku` required; `price`, `qty`, `url` optional.");
var purchaseSchema = eventSchema(
  "purchase",
  "An order was placed: `order_id` and numeric `revenue` required; `currency` and `items` optional."
);
var identifySchema = eventSchema("identify", "A device (anon_id) was linked to a customer (user_id): both required.");
var eventRecordSchema = z8.discriminatedUnion("type", [
  pageViewSchema,
  clickSchema,
  addToCartSchema,
  purchaseSchema,
  identifySchema
]);

// src/events/decode.ts
var MAX_EVENT_BYTES = 32 * 1024;
var KNOWN_TYPES = new Set(EVENT_TYPES);
var EVENT_FIELD_KINDS = new Map(Object.entries(EVENT_FIELDS));
var ITEM_FIELD_KINDS = new Map(Object.entries(ITEM_FIELDS));
var MAX_SHOWN_VALUE = 60;
function decodeRecord(raw, receivedAt) {
  const byteLength = byteLengthForLimit(raw);
  if (byteLength > MAX_EVENT_BYTES) return tooLarge(byteLength);
  let value;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return invalid("not_json", `not JSON: ${error.message}`);
  }
  return validateRecord(value, byteLength, receivedAt);
}
function validateRecord(value, rawLength, receivedAt) {
  if (rawLength > MAX_EVENT_BYTES) return tooLarge(rawLength);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid("not_object", `expected a JSON object, got ${describeKind(value)}`);
  }
  const record = value;
  const type = record.type;
  if (type === void 0 || type === null) {
    return invalid("missing_field", `type: required, one of ${EVENT_TYPES.join(", ")}`);
  }
  if (typeof type !== "string" || !KNOWN_TYPES.has(type)) {
    return invalid("unknown_type", `type: expected one of ${EVENT_TYPES.join(", ")}, got ${show(type)}`);
  }
  const eventType = type;
  const ts = record.ts;
  if (ts === void 0 || ts === null) return invalid("missing_field", `${eventType}.ts: required`);
  const tsEpochMs = parseEventTime(ts);
  if (tsEpochMs === void 0) return invalid("bad_ts", `${eventType}.ts: expected ${TS_EXPECTATION}, got ${show(ts)}`);
  const fieldProblem = checkFields(record, EVENT_FIELD_KINDS, eventType);
  if (fieldProblem !== void 0) return invalid("bad_field", fieldProblem);
  for (const name of REQUIRED_FIELDS[eventType]) {
    const field = record[name];
    if (field === void 0) return invalid("missing_field", `${eventType}.${name}: required`);
    if (field === "" && NON_EMPTY_REQUIRED.has(name)) {
      return invalid("bad_field", `${eventType}.${name}: expected a non-empty string, got ""`);
    }
  }
  if (record.anon_id === void 0 && record.user_id === void 0) {
    return invalid("missing_field", `${eventType}: requires anon_id or user_id`);
  }
  const items = record.items;
  if (items !== void 0) {
    const itemProblem = checkItems(items, eventType);
    if (itemProblem !== void 0) return invalid("bad_field", itemProblem);
  }
  const received = record.received_at;
  record.received_at = received === void 0 ? receivedAt : parseEventTime(received);
  if (record.event_id === void 0) record.event_id = deriveEventId(record, tsEpochMs);
  record.ts = tsEpochMs;
  return { ok: true, event: record };
}
function checkFields(record, kinds, prefix) {
  for (const name in record) {
    const kind = kinds.get(name);
    if (kind === void 0) continue;
    const field = record[name];
    if (field === null) {
      delete record[name];
      continue;
    }
    if (!matchesKind(kind, field)) return `${prefix}.${name}: expected ${KIND_EXPECTATIONS[kind]}, got ${show(field)}`;
  }
  return void 0;
}
function checkItems(items, eventType) {
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const prefix = `${eventType}.items[${i}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      return `${prefix}: expected an object, got ${show(item)}`;
    }
    const problem = checkFields(item, ITEM_FIELD_KINDS, prefix);
    if (problem !== void 0) return problem;
  }
  return void 0;
}
function matchesKind(kind, value) {
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "id":
      return typeof value === "string" && value.length > 0;
    case "amount":
      return typeof value === "number" && Number.isFinite(value);
    case "price":
      return typeof value === "number" && value >= 0 && value !== Infinity;
    case "quantity":
      return typeof value === "number" && value > 0 && value !== Infinity;
    case "boolean":
      return typeof value === "boolean";
    case "instant":
      return parseEventTime(value) !== void 0;
    case "items":
      return Array.isArray(value);
  }
}
function byteLengthForLimit(text) {
  if (text.length * 3 <= MAX_EVENT_BYTES) return text.length;
  return Buffer.byteLength(text, "utf8");
}
function tooLarge(byteLength) {
  return invalid("too_large", `record is ${byteLength} bytes, over the ${MAX_EVENT_BYTES}-byte limit`);
}
function invalid(reason, message) {
  return { ok: false, reason, message };
}
function describeKind(value) {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  return `a ${typeof value} (${show(value)})`;
}
function show(value) {
  let text;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_SHOWN_VALUE ? `${text.slice(0, MAX_SHOWN_VALUE)}\u2026` : text;
}

// src/ingest/generate.ts
var DEFAULT_START = Date.UTC(2026, 0, 5);
var DEFAULT_SEED = 1;
var SITE_ID = "demo-shop";
var SITE_ORIGIN = "https://demo-shop.example";
var SECOND = 1e3;
var MINUTE = 60 * SECOND;
var HOUR = 60 * MINUTE;
var DAY = 24 * HOUR;
var MAX_GAP_INSIDE_SESSION = 25 * MINUTE;
var MIN_GAP_BETWEEN_SESSIONS = 31 * MINUTE;
var Random = class {
  a;
  b;
  c;
  d;
  constructor(seed, stream, substream) {
    this.a = mix32(seed ^ 2654435769);
    this.b = mix32(stream ^ 2246822507);
    this.c = mix32(substream ^ 3266489909);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }
  nextUint32() {
    const t = (this.a + this.b | 0) + this.d | 0;
    this.d = this.d + 1 | 0;
    this.a = this.b ^ this.b >>> 9;
    this.b = this.c + (this.c << 3) | 0;
    this.c = this.c << 21 | this.c >>> 11;
    this.c = this.c + t | 0;
    return t >>> 0;
  }
  /** Uniform in [0, 1). */
  next() {
    return this.nextUint32() / 4294967296;
  }
  /** Uniform integer in [min, max]. */
  int(min, max) {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(probability) {
    return this.next() < probability;
  }
  exponential(mean) {
    return -Math.log(1 - this.next()) * mean;
  }
  pick(values) {
    return values[Math.floor(this.next() * values.length)];
  }
  /** An index in [0, size) skewed towards 0 (a few popular products, a long tail). */
  skewed(size) {
    const u = this.next();
    return Math.floor(size * u * u * u);
  }
  hex(length) {
    let out = "";
    while (out.length < length) out += this.nextUint32().toString(16).padStart(8, "0");
    return out.slice(0, length);
  }
};
function mix32(value) {
  let h = value | 0;
  h = Math.imul(h ^ h >>> 16, 2246822507);
  h = Math.imul(h ^ h >>> 13, 3266489909);
  return (h ^ h >>> 16) >>> 0;
}
var CATEGORIES = [
  { name: "shoes", terms: ["sneakers", "running shoes", "boots"], companion: "socks" },
  { name: "phones", terms: ["smartphone", "android phone"], companion: "phone-cases" },
  { name: "dresses", terms: ["summer dress", "evening dress"], companion: "bags" },
  { name: "laptops", terms: ["laptop", "notebook 14 inch"], companion: "laptop-bags" },
  { name: "coffee", terms: ["espresso beans", "coffee"], companion: "mugs" },
  { name: "books", terms: ["novel", "cookbook"], companion: "bookmarks" },
  { name: "bags", terms: ["backpack", "handbag"], companion: "dresses" },
  { name: "socks", terms: ["socks", "wool socks"], companion: "shoes" },
  { name: "phone-cases", terms: ["phone case"], companion: "phones" },
  { name: "laptop-bags", terms: ["laptop sleeve"], companion: "laptops" },
  { name: "mugs", terms: ["mug", "travel mug"], companion: "coffee" },
  { name: "bookmarks", terms: ["bookmark"], companion: "books" }
];
var PRODUCTS_PER_CATEGORY = 40;
var BASE_PRICES = [79, 499, 59, 899, 12, 15, 45, 9, 19, 29, 11, 4];
var CATALOG = CATEGORIES.map(
  (category, c) => Array.from({ length: PRODUCTS_PER_CATEGORY }, (_, j) => {
    const id = 1e3 + c * 100 + j;
    const price = Math.max(1, Math.round(BASE_PRICES[c] * (0.6 + j * 37 % 100 / 100))) - 0.01;
    return {
      id,
      sku: `SKU-${id}`,
      category: category.name,
      categoryIndex: c,
      price,
      url: `/c/${category.name}/p/${id}`,
      title: `${category.name} ${id} | Demo Shop`
    };
  })
);
var COMPANION_INDEX = CATEGORIES.map((category) => CATEGORIES.findIndex((other) => other.name === category.companion));
var SEARCH_URLS = CATEGORIES.map((category) => category.terms.map((term) => `/search?q=${encodeURIComponent(term).replace(/%20/g, "+")}`));
var CAMPAIGNS = [
  { source: "newsletter", medium: "email", campaign: "winter_sale", referrer: "" },
  { source: "facebook", medium: "cpc", campaign: "retargeting", referrer: "https://l.facebook.com/" },
  { source: "google", medium: "cpc", campaign: "brand", referrer: "https://www.google.com/" },
  { source: "instagram", medium: "social", campaign: "influencer_jan", referrer: "https://l.instagram.com/" }
];
var SEARCH_ENGINES = ["https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"];
var REFERRING_SITES = ["https://www.reddit.com/r/deals/", "https://blog.example.org/gift-guide", "https://news.ycombinator.com/"];
var CLICK_TARGETS = ["nav-menu", "product-image", "size-selector", "reviews-tab", "filter", "banner", "newsletter-signup"];
var DESKTOP_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
];
var MOBILE_AGENTS = [
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
];
var CRAWLER_AGENTS = [
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
  "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
  "python-requests/2.32.3"
];
var IP_PREFIXES = ["192.0.2.", "198.51.100.", "203.0.113."];
var HOURLY_WEIGHT = [
  0.15,
  0.1,
  0.08,
  0.08,
  0.1,
  0.15,
  0.25,
  0.4,
  0.55,
  0.65,
  0.7,
  0.75,
  0.8,
  0.75,
  0.7,
  0.7,
  0.75,
  0.8,
  0.9,
  1,
  1,
  0.9,
  0.6,
  0.3
];
var CUSTOMER_SHARE = 0.3;
var SECOND_DEVICE_SHARE = 0.15;
var CHURN_SHARE = 0.25;
var ONE_TIME_SHARE = 0.4;
var VISITORS_PER_BOT = 2e3;
function validateOptions(options) {
  const { visitors, days, seed = DEFAULT_SEED, start = DEFAULT_START } = options;
  if (!Number.isInteger(visitors) || visitors < 1) throw new RangeError(`visitors: expected a positive integer, got ${visitors}`);
  if (!Number.isInteger(days) || days < 1) throw new RangeError(`days: expected a positive integer, got ${days}`);
  if (!Number.isInteger(seed)) throw new RangeError(`seed: expected an integer, got ${seed}`);
  if (!Number.isFinite(start) || start < 0) throw new RangeError(`start: expected epoch milliseconds \u2265 0, got ${start}`);
  return { visitors, days, seed, start };
}
function planTraffic(options) {
  const { visitors, days, seed, start } = validateOptions(options);
  const end = start + days * DAY;
  const botCount = visitors >= 50 ? Math.max(1, Math.round(visitors / VISITORS_PER_BOT)) : 0;
  const customers = /* @__PURE__ */ new Map();
  const churnedCustomers = /* @__PURE__ */ new Map();
  const bots = /* @__PURE__ */ new Set();
  const devices = [];
  let customerCount = 0;
  const addDevice = (random, profile) => {
    const device = {
      index: devices.length,
      random,
      anonId: random.hex(16),
      identified: false,
      eventCount: 0,
      visit: [],
      cursor: 0,
      key: 0,
      ...profile
    };
    device.key = plannedStart(random, start, device.until);
    devices.push(device);
    return device;
  };
  for (let visitor = 0; visitor < visitors; visitor++) {
    const random = new Random(seed, visitor, 0);
    if (visitor < botCount) {
      const bot = addDevice(random, {
        customerId: void 0,
        orders: { count: 0 },
        isBot: true,
        ua: random.pick(CRAWLER_AGENTS),
        ip: random.pick(IP_PREFIXES) + random.int(1, 254),
        returnRate: 1,
        until: end
      });
      bots.add(bot.anonId);
      continue;
    }
    const isCustomer = random.chance(CUSTOMER_SHARE);
    const customerId = isCustomer ? `u${String(++customerCount).padStart(6, "0")}` : void 0;
    const churnedAt = isCustomer && days >= 2 && random.chance(CHURN_SHARE) ? start + churnDay(random, days) * DAY : void 0;
    const returnRate = isCustomer ? random.exponential(churnedAt === void 0 ? 1.5 : 2.2) : random.chance(ONE_TIME_SHARE) ? 0 : random.exponential(1);
    const mobile = random.chance(0.45);
    const orders = { count: 0 };
    const first = addDevice(random, {
      customerId,
      orders,
      isBot: false,
      ua: random.pick(mobile ? MOBILE_AGENTS : DESKTOP_AGENTS),
      ip: random.pick(IP_PREFIXES) + random.int(1, 254),
      returnRate,
      until: churnedAt ?? end
    });
    if (customerId === void 0) continue;
    const anonIds = [first.anonId];
    if (random.chance(SECOND_DEVICE_SHARE)) {
      const secondRandom = new Random(seed, visitor, 1);
      const second = addDevice(secondRandom, {
        customerId,
        orders,
        isBot: false,
        ua: secondRandom.pick(mobile ? DESKTOP_AGENTS : MOBILE_AGENTS),
        ip: secondRandom.pick(IP_PREFIXES) + secondRandom.int(1, 254),
        returnRate: returnRate * 0.5,
        until: churnedAt ?? end
      });
      anonIds.push(second.anonId);
    }
    customers.set(customerId, churnedAt === void 0 ? { anonIds } : { anonIds, churnedAt });
    if (churnedAt !== void 0) churnedCustomers.set(customerId, churnedAt);
  }
  return { truth: { start, end, customers, churnedCustomers, bots }, devices };
}
function churnDay(random, days) {
  const earliest = Math.max(1, Math.ceil(days * 0.3));
  return random.int(earliest, days - 1);
}
function plannedStart(random, start, until) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const candidate = start + Math.floor(random.next() * (until - start));
    if (random.chance(HOURLY_WEIGHT[new Date(candidate).getUTCHours()])) return candidate;
  }
  return start + Math.floor(random.next() * (until - start));
}
function plannedReturn(device, lastEventTs) {
  const random = device.random;
  if (device.isBot) return lastEventTs + 20 * HOUR + Math.floor(random.next() * 8 * HOUR);
  if (device.returnRate === 0) return Infinity;
  let candidate = lastEventTs + MIN_GAP_BETWEEN_SESSIONS;
  for (let attempt = 0; attempt < 20; attempt++) {
    candidate += Math.floor(random.exponential(DAY / device.returnRate / 2));
    if (random.chance(HOURLY_WEIGHT[new Date(candidate).getUTCHours()])) break;
  }
  return candidate;
}
var VisitBuilder = class {
  constructor(device, startTs) {
    this.device = device;
    this.ts = startTs;
  }
  device;
  ts;
  events = [];
  cart = [];
  previousUrl = "";
  build() {
    if (this.device.isBot) this.crawl();
    else this.browse();
    return this.events;
  }
  get random() {
    return this.device.random;
  }
  crawl() {
    const random = this.random;
    const pages = random.int(120, 300);
    let category = random.int(0, CATEGORIES.length - 1);
    let product = 0;
    for (let i = 0; i < pages && this.ts < this.device.until; i++) {
      const item = CATALOG[category][product];
      this.pageView(item.url, "", item.title);
      if (++product === PRODUCTS_PER_CATEGORY) {
        product = 0;
        category = (category + 1) % CATEGORIES.length;
      }
      this.ts += random.int(150, 900);
    }
  }
  browse() {
    const random = this.random;
    let page = this.landing();
    if (this.device.customerId !== void 0 && !this.device.identified && random.chance(0.3)) {
      this.after(random.int(3, 20) * SECOND);
      this.identify();
    }
    for (let step = 0; step < 40 && this.ts < this.device.until; step++) {
      const next = this.actOn(page, step);
      if (next === void 0) return;
      page = next;
      this.after(this.dwell());
      this.show(page);
    }
  }
  /** The first page view, by acquisition channel: direct, search engine, campaign or referring site. */
  landing() {
    const random = this.random;
    const channel = random.next();
    let page;
    let query = "";
    let referrer = "";
    if (channel < 0.35) {
      page = random.chance(0.7) ? { kind: "home" } : { kind: "category", category: random.skewed(CATEGORIES.length) };
    } else if (channel < 0.65) {
      referrer = random.pick(SEARCH_ENGINES);
      page = random.chance(0.5) ? this.someProduct(random.skewed(CATEGORIES.length)) : { kind: "category", category: random.skewed(CATEGORIES.length) };
    } else if (channel < 0.85) {
      const campaign = random.pick(CAMPAIGNS);
      referrer = campaign.referrer;
      query = `?utm_source=${campaign.source}&utm_medium=${campaign.medium}&utm_campaign=${campaign.campaign}`;
      page = random.chance(0.6) ? { kind: "category", category: random.skewed(CATEGORIES.length) } : this.someProduct(random.skewed(CATEGORIES.length));
    } else {
      referrer = random.pick(REFERRING_SITES);
      page = this.someProduct(random.skewed(CATEGORIES.length));
    }
    const [url, title] = describePage(page);
    this.pageView(url + query, referrer, title);
    this.previousUrl = url + query;
    return page;
  }
  /** Clicks and cart actions on the current page, then where the visitor goes next (undefined: they leave). */
  actOn(page, step) {
    const random = this.random;
    if (random.chance(0.3)) {
      this.after(random.int(1, 20) * SECOND);
      this.click(random.pick(CLICK_TARGETS));
    }
    switch (page.kind) {
      case "home":
        if (this.leaves(step)) return void 0;
        return random.chance(0.65) ? { kind: "category", category: random.skewed(CATEGORIES.length) } : { kind: "search", category: random.skewed(CATEGORIES.length) };
      case "category":
      case "search":
        if (this.leaves(step)) return void 0;
        if (random.chance(0.75)) return this.someProduct(page.category);
        return random.chance(0.5) ? { kind: "category", category: random.skewed(CATEGORIES.length) } : { kind: "home" };
      case "product": {
        let added = false;
        if (random.chance(0.2)) {
          this.after(random.int(5, 60) * SECOND);
          this.addToCart(page.product);
          added = true;
        }
        if (this.leaves(step)) return void 0;
        if (added && random.chance(0.35)) return this.companionOf(page.product);
        if (this.cart.length > 0 && random.chance(added ? 0.35 : 0.12)) return { kind: "cart" };
        if (random.chance(0.45)) return this.someProduct(page.product.categoryIndex);
        return random.chance(0.6) ? { kind: "category", category: random.skewed(CATEGORIES.length) } : { kind: "search", category: random.skewed(CATEGORIES.length) };
      }
      case "cart":
        if (this.cart.length > 0 && random.chance(0.6)) return { kind: "checkout" };
        if (this.leaves(step)) return void 0;
        return { kind: "category", category: random.skewed(CATEGORIES.length) };
      case "checkout":
        if (this.device.customerId === void 0) {
          return random.chance(0.7) ? void 0 : { kind: "home" };
        }
        if (random.chance(0.15)) return void 0;
        if (!this.device.identified) {
          this.after(random.int(10, 60) * SECOND);
          this.identify();
        }
        this.after(random.int(20, 120) * SECOND);
        this.purchase();
        return random.chance(0.6) ? void 0 : { kind: "home" };
    }
  }
  /** Exit probability: a higher one on the landing page makes bounces. */
  leaves(step) {
    return this.random.chance(step === 0 ? 0.3 : 0.13);
  }
  /** Time on a page: seconds to minutes, now and then a long pause, always under MAX_GAP_INSIDE_SESSION. */
  dwell() {
    const random = this.random;
    if (random.chance(0.03)) return random.int(10 * MINUTE, MAX_GAP_INSIDE_SESSION);
    return Math.min(3 * SECOND + Math.floor(random.exponential(40 * SECOND)), 8 * MINUTE);
  }
  someProduct(category) {
    return { kind: "product", product: CATALOG[category][this.random.skewed(PRODUCTS_PER_CATEGORY)] };
  }
  /** Products that go together (phone and case) make basket rules worth finding. */
  companionOf(product) {
    const category = COMPANION_INDEX[product.categoryIndex];
    return { kind: "product", product: CATALOG[category][product.id % 100 % 8] };
  }
  show(page) {
    const [url, title] = describePage(page);
    const searchUrl = page.kind === "search" ? this.random.pick(SEARCH_URLS[page.category]) : url;
    this.pageView(searchUrl, SITE_ORIGIN + this.previousUrl, title);
    this.previousUrl = searchUrl;
  }
  after(milliseconds) {
    this.ts += milliseconds;
  }
  base(type) {
    if (this.ts >= this.device.until) return void 0;
    const device = this.device;
    const event = {
      type,
      ts: this.ts,
      event_id: `${device.anonId}-${(device.eventCount++).toString(36)}`,
      site_id: SITE_ID,
      anon_id: device.anonId
    };
    if (device.identified) event.user_id = device.customerId;
    this.events.push(event);
    return event;
  }
  withClient(event) {
    event.ua = this.device.ua;
    event.ip = this.device.ip;
  }
  pageView(url, referrer, title) {
    const event = this.base("page_view");
    if (event === void 0) return;
    event.url = url;
    event.referrer = referrer;
    event.title = title;
    this.withClient(event);
  }
  click(target) {
    const event = this.base("click");
    if (event === void 0) return;
    event.url = this.previousUrl;
    event.element = target;
    this.withClient(event);
  }
  identify() {
    this.device.identified = true;
    const event = this.base("identify");
    if (event === void 0) return;
    event.user_id = this.device.customerId;
    this.withClient(event);
  }
  addToCart(product) {
    const random = this.random;
    const qty = random.chance(0.85) ? 1 : random.chance(0.8) ? 2 : 3;
    const event = this.base("add_to_cart");
    if (event === void 0) return;
    this.cart.push({ product, qty });
    event.sku = product.sku;
    event.price = product.price;
    event.qty = qty;
    event.url = product.url;
    this.withClient(event);
  }
  purchase() {
    const event = this.base("purchase");
    if (event === void 0) return;
    const device = this.device;
    let cents = 0;
    const items = this.cart.map(({ product, qty }) => {
      cents += Math.round(product.price * 100) * qty;
      return { sku: product.sku, category: product.category, price: product.price, qty };
    });
    event.order_id = `o-${device.customerId}-${++device.orders.count}`;
    event.revenue = cents / 100;
    event.currency = "EUR";
    event.items = items;
    event.url = "/checkout";
    this.withClient(event);
    this.cart.length = 0;
  }
};
function describePage(page) {
  switch (page.kind) {
    case "home":
      return ["/", "Demo Shop"];
    case "category":
      return [`/c/${CATEGORIES[page.category].name}`, `${CATEGORIES[page.category].name} | Demo Shop`];
    case "product":
      return [page.product.url, page.product.title];
    case "search":
      return [SEARCH_URLS[page.category][0], "Search | Demo Shop"];
    case "cart":
      return ["/cart", "Cart | Demo Shop"];
    case "checkout":
      return ["/checkout", "Checkout | Demo Shop"];
  }
}
var DeviceHeap = class {
  items = [];
  get size() {
    return this.items.length;
  }
  peek() {
    return this.items[0];
  }
  push(device) {
    const items = this.items;
    items.push(device);
    let at = items.length - 1;
    while (at > 0) {
      const parent = at - 1 >> 1;
      if (!before(device, items[parent])) break;
      items[at] = items[parent];
      at = parent;
    }
    items[at] = device;
  }
  removeTop() {
    const last = this.items.pop();
    if (this.items.length > 0) this.siftDown(last);
  }
  /** Re-positions the top after its key grew. */
  updateTop() {
    this.siftDown(this.items[0]);
  }
  /** Places `device` starting from the root slot, moving smaller children up. */
  siftDown(device) {
    const items = this.items;
    const length = items.length;
    let at = 0;
    for (; ; ) {
      const left = 2 * at + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && before(items[right], items[left]) ? right : left;
      if (!before(items[child], device)) break;
      items[at] = items[child];
      at = child;
    }
    items[at] = device;
  }
};
function before(a, b) {
  return a.key < b.key || a.key === b.key && a.index < b.index;
}
function createTraffic(options) {
  const truth = planTraffic(options).truth;
  const counts = { sessions: 0, events: 0, purchases: 0 };
  return {
    truth,
    counts,
    *events() {
      counts.sessions = counts.events = counts.purchases = 0;
      const heap = new DeviceHeap();
      for (const device of planTraffic(options).devices) heap.push(device);
      while (heap.size > 0) {
        const device = heap.peek();
        if (device.cursor === device.visit.length) {
          device.visit = new VisitBuilder(device, device.key).build();
          device.cursor = 0;
          counts.sessions++;
        }
        const event = device.visit[device.cursor++];
        counts.events++;
        if (event.type === "purchase") counts.purchases++;
        let nextKey;
        if (device.cursor < device.visit.length) {
          nextKey = device.visit[device.cursor].ts;
        } else {
          device.visit = [];
          device.cursor = 0;
          nextKey = plannedReturn(device, event.ts);
        }
        device.key = nextKey;
        if (nextKey < device.until) heap.updateTop();
        else heap.removeTop();
        yield event;
      }
    }
  };
}
function generateTraffic(options) {
  return createTraffic(options).events();
}
function* generateLines(options) {
  for (const event of generateTraffic(options)) yield toNdjsonLine(event);
}
function toNdjsonLine(event) {
  const json = JSON.stringify(event);
  const tsStart = json.indexOf('"ts":') + 5;
  const tsEnd = json.indexOf(",", tsStart);
  return `${json.slice(0, tsStart)}"${formatIsoUtc(event.ts)}"${json.slice(tsEnd)}`;
}

// src/ingest/edge.ts
import { createHash as createHash2, createHmac as createHmac2 } from "node:crypto";

// src/ingest/bots.ts
import { isbot } from "isbot";
var DEFAULT_IDLE_MS = 30 * 6e4;
var DEFAULT_MAX_VISITORS = 1e6;
var MAX_REMEMBERED_USER_AGENTS = 1e4;
function isEmptyUserAgent(userAgent) {
  return userAgent === void 0 || userAgent === null || userAgent.trim() === "" || userAgent === "-";
}
var BotDetector = class {
  visitors = /* @__PURE__ */ new Map();
  windowMs;
  maxEvents;
  idleMs;
  maxVisitors;
  /** isbot's pattern costs microseconds per call and user agents repeat: remember recent answers. */
  crawlerAnswers = /* @__PURE__ */ new Map();
  newestTs = Number.NEGATIVE_INFINITY;
  sinceSweep = 0;
  constructor(options) {
    this.windowMs = options.rate.perSeconds * 1e3;
    this.maxEvents = options.rate.maxEvents;
    this.idleMs = Math.max(options.idleMs ?? DEFAULT_IDLE_MS, this.windowMs);
    this.maxVisitors = options.maxVisitors ?? DEFAULT_MAX_VISITORS;
  }
  get visitorCount() {
    return this.visitors.size;
  }
  /** Notes a request that will not become an event (e.g. a filtered static file): only /robots.txt matters. */
  observeRequest(observation) {
    if (observation.path !== "/robots.txt") return;
    this.touch(observation.visitor, observation.ts).botReason ??= "robots_txt";
  }
  /** Classifies one event and counts it towards its visitor's rate; undefined when it is not a bot. */
  classify(observation) {
    const state = this.touch(observation.visitor, observation.ts);
    if (state.botReason === void 0) state.botReason = this.stickyReason(observation, state);
    if (state.botReason !== void 0) return state.botReason;
    if (observation.carriesUserAgent && isEmptyUserAgent(observation.userAgent)) return "empty_user_agent";
    if (typeof observation.userAgent === "string" && this.isCrawler(observation.userAgent)) return "user_agent";
    return void 0;
  }
  isCrawler(userAgent) {
    let answer = this.crawlerAnswers.get(userAgent);
    if (answer === void 0) {
      if (this.crawlerAnswers.size >= MAX_REMEMBERED_USER_AGENTS) this.crawlerAnswers.clear();
      answer = isbot(userAgent);
      this.crawlerAnswers.set(userAgent, answer);
    }
    return answer;
  }
  stickyReason(observation, state) {
    if (observation.path === "/robots.txt") return "robots_txt";
    if (this.exceedsRate(state.times, observation.ts)) {
      state.times = [];
      return "rate";
    }
    return void 0;
  }
  /**
   * Adds `ts` to the visitor's window and says whether some span shorter than perSeconds now holds more than
   * maxEvents events. Events older than the window behind the visitor's newest event are not counted.
   */
  exceedsRate(times, ts) {
    const newest = times.length > 0 ? times[times.length - 1] : ts;
    if (ts <= newest - this.windowMs) return false;
    let at = times.length;
    while (at > 0 && times[at - 1] > ts) at--;
    times.splice(at, 0, ts);
    const horizon = Math.max(newest, ts) - this.windowMs;
    let expired = 0;
    while (expired < times.length && times[expired] <= horizon) expired++;
    if (expired > 0) times.splice(0, expired);
    for (let first = 0; first + this.maxEvents < times.length; first++) {
      if (times[first + this.maxEvents] - times[first] < this.windowMs) return true;
    }
    return false;
  }
  touch(visitor, ts) {
    let state = this.visitors.get(visitor);
    if (state === void 0) {
      state = { lastTs: ts, botReason: void 0, times: [] };
    } else {
      this.visitors.delete(visitor);
      if (ts > state.lastTs) state.lastTs = ts;
    }
    this.visitors.set(visitor, state);
    if (ts > this.newestTs) this.newestTs = ts;
    if (++this.sinceSweep >= 1024 || this.visitors.size > this.maxVisitors) this.sweep();
    return state;
  }
  /** Forgets visitors idle for idleMs behind the newest event time, oldest-seen first, and enforces the cap. */
  sweep() {
    this.sinceSweep = 0;
    const idleBefore = this.newestTs - this.idleMs;
    for (const [visitor, state] of this.visitors) {
      if (this.visitors.size > this.maxVisitors || state.lastTs < idleBefore) this.visitors.delete(visitor);
      else break;
    }
  }
};

// src/ingest/privacy.ts
import { createHmac } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
var PSEUDONYM_KEY_ENV = "CLICKPIPE_PSEUDONYM_KEY";
var PseudonymKeyMissingError = class extends Error {
  name = "PseudonymKeyMissingError";
};
function anonymizeIp(ip, ipv6Bits = 80) {
  if (isIPv4(ip)) return ip.slice(0, ip.lastIndexOf(".")) + ".0";
  const address = ip.includes("%") ? ip.slice(0, ip.indexOf("%")) : ip;
  if (!isIPv6(address)) return void 0;
  const groups = parseIpv6(address);
  if (isIpv4Mapped(groups)) return `::ffff:${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.0`;
  for (let bit = 128 - ipv6Bits; bit < 128; bit++) {
    const group = bit >> 4;
    groups[group] &= ~(32768 >> (bit & 15)) & 65535;
  }
  return formatIpv6(groups);
}
function parseIpv6(address) {
  let text = address.toLowerCase();
  const dotted = text.match(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${(a << 8 | b).toString(16)}:${(c << 8 | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, void 0];
  const headGroups = head === "" ? [] : head.split(":").map((group) => Number.parseInt(group, 16));
  if (tail === void 0) return headGroups;
  const tailGroups = tail === "" ? [] : tail.split(":").map((group) => Number.parseInt(group, 16));
  const zeros = new Array(8 - headGroups.length - tailGroups.length).fill(0);
  return [...headGroups, ...zeros, ...tailGroups];
}
function isIpv4Mapped(groups) {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 65535;
}
function formatIpv6(groups) {
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; ) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}
function pseudonymize(value, key) {
  return createHmac("sha256", key).update(value).digest("hex");
}
function withoutFields(value, fields) {
  if (Array.isArray(value)) {
    let copy2;
    for (let index = 0; index < value.length; index++) {
      const cleaned = withoutFields(value[index], fields);
      if (cleaned !== value[index]) {
        copy2 ??= value.slice();
        copy2[index] = cleaned;
      }
    }
    return copy2 ?? value;
  }
  if (value === null || typeof value !== "object") return value;
  let copy;
  for (const [key, field] of Object.entries(value)) {
    if (fields.has(key)) {
      copy ??= { ...value };
      delete copy[key];
      continue;
    }
    const cleaned = typeof field === "object" && field !== null ? withoutFields(field, fields) : field;
    if (cleaned !== field) {
      copy ??= { ...value };
      copy[key] = cleaned;
    }
  }
  return copy ?? value;
}
var PrivacyFilter = class {
  constructor(config, pseudonymKey) {
    this.config = config;
    this.pseudonymKey = pseudonymKey;
    this.dropFields = new Set(config.dropFields);
    if (config.pseudonymize.length > 0 && (pseudonymKey === void 0 || pseudonymKey === "")) {
      throw new PseudonymKeyMissingError(
        `ingest.privacy.pseudonymize is [${config.pseudonymize.join(", ")}] but ${PSEUDONYM_KEY_ENV} is not set: export a secret key (e.g. ${PSEUDONYM_KEY_ENV}=$(openssl rand -hex 32)) and keep it: the same key gives the same pseudonyms`
      );
    }
  }
  config;
  pseudonymKey;
  dropFields;
  apply(event) {
    if (this.config.anonymizeIp && typeof event.ip === "string") {
      const anonymized = anonymizeIp(event.ip, this.config.ipv6Bits);
      if (anonymized === void 0) delete event.ip;
      else event.ip = anonymized;
    }
    if (this.pseudonymKey !== void 0) {
      for (const field of this.config.pseudonymize) {
        const value = event[field];
        if (typeof value === "string") event[field] = pseudonymize(value, this.pseudonymKey);
      }
    }
    return this.dropFields.size > 0 ? withoutFields(event, this.dropFields) : event;
  }
};

// src/ingest/url-rules.ts
var UrlRuleError = class extends Error {
  name = "UrlRuleError";
};
function compileUrlRules(rules) {
  const compiled = rules.map((rule, index) => compileRule(rule, index));
  return (pathOrUrl) => {
    const path = pathOfUrl(pathOrUrl);
    for (const rule of compiled) {
      const match = rule.pattern.exec(path);
      if (match !== null) return renderItem(rule.parts, match);
    }
    return path;
  };
}
function compileRule(rule, index) {
  const where2 = `urlRules[${index}]`;
  if (!rule.match.startsWith("/") && !rule.match.startsWith("*")) {
    throw new UrlRuleError(`${where2}.match "${rule.match}" must start with / (a URL path)`);
  }
  const groups = /* @__PURE__ */ new Map();
  let source = "";
  const token = /:([A-Za-z_][A-Za-z0-9_]*)|\*/g;
  let last = 0;
  for (let match = token.exec(rule.match); match !== null; match = token.exec(rule.match)) {
    source += escapeRegExp(rule.match.slice(last, match.index));
    last = token.lastIndex;
    const name = match[1] ?? "*";
    if (groups.has(name) && name !== "*") throw new UrlRuleError(`${where2}.match uses :${name} twice`);
    if (!groups.has(name)) groups.set(name, groups.size + 1);
    else groups.set(`*${groups.size}`, groups.size + 1);
    source += name === "*" ? "(.*)" : "([^/]+)";
  }
  source += escapeRegExp(rule.match.slice(last));
  if (source.endsWith("/")) source = source.slice(0, -1);
  return { pattern: new RegExp(`^${source}/?$`), parts: compileItem(rule.item, groups, where2) };
}
function compileItem(item, groups, where2) {
  const parts = [];
  const token = /:([A-Za-z_][A-Za-z0-9_]*)|\*/g;
  let last = 0;
  for (let match = token.exec(item); match !== null; match = token.exec(item)) {
    if (match.index > last) parts.push(item.slice(last, match.index));
    last = token.lastIndex;
    const name = match[1] ?? "*";
    const group = groups.get(name);
    if (group === void 0) {
      const known = [...groups.keys()].filter((key) => !key.startsWith("*") || key === "*").map((key) => key === "*" ? "*" : `:${key}`);
      const label = name === "*" ? "*" : `:${name}`;
      throw new UrlRuleError(`${where2}.item uses ${label}, which ${where2}.match does not define (it has ${known.join(", ") || "no params"})`);
    }
    parts.push(group);
  }
  if (last < item.length) parts.push(item.slice(last));
  return parts;
}
function renderItem(parts, match) {
  let item = "";
  for (const part of parts) item += typeof part === "number" ? match[part] : part;
  return item;
}
function pathOfUrl(url) {
  let start = 0;
  const scheme = url.indexOf("://");
  if (scheme > 0 && scheme < 12 && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(url.slice(0, scheme))) {
    const slash = url.indexOf("/", scheme + 3);
    if (slash === -1) return "/";
    start = slash;
  }
  let end = url.length;
  const query = url.indexOf("?", start);
  if (query !== -1) end = query;
  const fragment = url.indexOf("#", start);
  if (fragment !== -1 && fragment < end) end = fragment;
  const path = url.slice(start, end);
  return path === "" ? "/" : path;
}
function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// src/ingest/edge.ts
var VISITOR_KEY_ENV = "CLICKPIPE_VISITOR_KEY";
var MAX_REMEMBERED_VISITOR_IDS = 5e4;
var EdgeProcessor = class _EdgeProcessor {
  /** Throws UrlRuleError for a bad rule, PseudonymKeyMissingError when pseudonymize has no key. */
  constructor(config, keys) {
    this.keys = keys;
    this.pageItemOf = compileUrlRules(config.urlRules);
    this.bots = new BotDetector({ rate: config.botRate });
    this.privacy = new PrivacyFilter(config.privacy, keys.pseudonymKey);
    this.exclusions = config.pages === "all" ? [] : config.pages.exclude;
    this.staticExtensions = new Set(config.staticExtensions.map((extension) => extension.replace(/^\./, "").toLowerCase()));
    this.dropBots = config.bots === "drop";
  }
  keys;
  pageItemOf;
  bots;
  privacy;
  exclusions;
  staticExtensions;
  dropBots;
  /** An HMAC costs microseconds and a visitor sends many requests: remember recent (ip, user agent) → anon_id. */
  visitorIds = /* @__PURE__ */ new Map();
  /** Keys from the config and the environment: visitorKey ← config, CLICKPIPE_VISITOR_KEY, else the pipeline name. */
  static fromConfig(config, context) {
    const env = context.env ?? process.env;
    const visitorKey2 = config.visitorKey ?? nonEmpty(env[VISITOR_KEY_ENV]) ?? context.pipelineName;
    return new _EdgeProcessor(config, { visitorKey: visitorKey2, pseudonymKey: nonEmpty(env[PSEUDONYM_KEY_ENV]) });
  }
  /** A parsed access-log line → a page_view, or why it is not one. */
  fromAccessRecord(record, receivedAt, origin) {
    const path = record.path === null ? void 0 : pathOfUrl(record.path);
    const excludedBy = this.exclusionOf(record, path);
    if (excludedBy !== void 0 || record.path === null) {
      if (path === "/robots.txt") this.bots.observeRequest(this.accessObservation(record, path));
      return { kind: "filtered", why: excludedBy ?? "no_request_path" };
    }
    const anonId = this.visitorOf(record);
    const event = {
      type: "page_view",
      ts: record.ts,
      event_id: origin === void 0 ? accessRecordEventId(record) : accessLineEventId(origin),
      anon_id: anonId,
      received_at: receivedAt,
      ip: record.ip,
      url: record.path,
      page_item: this.pageItemOf(path ?? record.path)
    };
    if (record.referrer !== void 0 && record.referrer !== null) event.referrer = record.referrer;
    if (record.userAgent !== void 0) event.ua = record.userAgent ?? "";
    const reason = this.bots.classify({
      visitor: anonId,
      ts: record.ts,
      path,
      userAgent: record.userAgent,
      carriesUserAgent: record.userAgent !== void 0
    });
    return this.finish(event, reason);
  }
  /** A decoded JSON event (collector, `publish --format ndjson`); the input is not changed. */
  process(input, request) {
    const event = { ...input };
    const path = event.type === "page_view" && typeof event.url === "string" ? pathOfUrl(event.url) : void 0;
    if (path !== void 0) event.page_item = this.pageItemOf(path);
    const carriesUserAgent = request !== void 0 || "ua" in input;
    const userAgent = request !== void 0 && !request.hasUserAgent ? null : event.ua;
    const reason = this.bots.classify({
      visitor: `${event.site_id ?? ""}\0${event.anon_id ?? event.user_id ?? ""}`,
      ts: event.ts,
      path,
      userAgent,
      carriesUserAgent
    });
    return this.finish(event, reason);
  }
  finish(event, reason) {
    event.is_bot = reason !== void 0;
    if (reason !== void 0) event.bot_reason = reason;
    const cleaned = this.privacy.apply(event);
    if (reason !== void 0 && this.dropBots) return { kind: "bot", event: cleaned };
    return { kind: "event", event: cleaned };
  }
  exclusionOf(record, path) {
    for (const exclusion of this.exclusions) {
      if (isExcluded(exclusion, record, path, this.staticExtensions)) return exclusion;
    }
    return void 0;
  }
  visitorOf(record) {
    const identity = `${record.ip}
${record.userAgent ?? ""}`;
    let id = this.visitorIds.get(identity);
    if (id === void 0) {
      if (this.visitorIds.size >= MAX_REMEMBERED_VISITOR_IDS) this.visitorIds.clear();
      id = visitorIdOf(record.ip, record.userAgent ?? "", this.keys.visitorKey);
      this.visitorIds.set(identity, id);
    }
    return id;
  }
  accessObservation(record, path) {
    return {
      visitor: this.visitorOf(record),
      ts: record.ts,
      path,
      userAgent: record.userAgent,
      carriesUserAgent: record.userAgent !== void 0
    };
  }
};
function isExcluded(exclusion, record, path, staticExtensions) {
  switch (exclusion) {
    case "static":
      return path !== void 0 && staticExtensions.has(extensionOf(path));
    case "non2xx":
      return record.status < 200 || record.status > 299;
    case "nonGet":
      return record.method !== "GET";
    default:
      return Math.floor(record.status / 100) === Number(exclusion[0]);
  }
}
function extensionOf(path) {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  return dot > slash + 1 ? path.slice(dot + 1).toLowerCase() : "";
}
function visitorIdOf(ip, userAgent, visitorKey2) {
  return createHmac2("sha256", visitorKey2).update(`${ip}
${userAgent}`).digest("base64url").slice(0, 22);
}
function accessLineEventId(origin) {
  return createHash2("sha256").update(`${origin.lineNumber}
${origin.line}`).digest("base64url").slice(0, 22);
}
function accessRecordEventId(record) {
  const content = [record.ip, record.ts, record.method, record.path, record.status, record.bytes, record.referrer, record.userAgent];
  return createHash2("sha256").update(JSON.stringify(content)).digest("base64url").slice(0, 22);
}
function nonEmpty(value) {
  return value === void 0 || value === "" ? void 0 : value;
}

// src/metrics/registry.ts
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
var EVENT_SOURCES = ["nats", "http", "access_log", "publish"];
var INVALID_REASONS = [
  "not_json",
  "not_object",
  "too_large",
  "unknown_type",
  "missing_field",
  "bad_field",
  "bad_ts",
  "unparseable_line",
  "operator_error"
];
var SESSION_KINDS = ["final", "update", "retraction"];
var TABLES = [
  "sessions",
  "patterns",
  "basket_rules",
  "cross_sell",
  "customer_features",
  "invalid_events",
  "late_events",
  "bots",
  "scores"
];
var PATTERN_TABLE_KINDS = ["subsequence", "contiguous"];
var Metrics = class {
  registry;
  eventsReceived;
  eventsProcessed;
  eventsInvalid;
  eventsFiltered;
  eventsLate;
  eventsDuplicate;
  sessionsEmitted;
  parquetRowsWritten;
  parquetFilesWritten;
  openSessions;
  watermarkLag;
  consumerPending;
  lastCheckpoint;
  stateBytes;
  checkpointDuration;
  checkpointFailures;
  eventLatency;
  sessionDuration;
  httpRequestDuration;
  // Business figures for Grafana: counters whose rates and ratios give per-minute figures (see src/metrics/business.ts).
  sessionsFinal;
  sessionsBounced;
  sessionsConverted;
  revenue;
  patternsFrequent;
  patternsTopSupport;
  constructor(options = {}) {
    const registry = new Registry();
    this.registry = registry;
    if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
    const reg = [registry];
    this.eventsReceived = new Counter({
      name: "clickpipe_events_received_total",
      help: "Records received, by source.",
      labelNames: ["source"],
      registers: reg
    });
    this.eventsProcessed = new Counter({
      name: "clickpipe_events_processed_total",
      help: "Valid events handed to the operators.",
      registers: reg
    });
    this.eventsInvalid = new Counter({
      name: "clickpipe_events_invalid_total",
      help: "Records rejected as invalid (dead-lettered), by reason.",
      labelNames: ["reason"],
      registers: reg
    });
    this.eventsFiltered = new Counter({
      name: "clickpipe_events_filtered_total",
      help: "Requests left out by the page filter or bot drop.",
      registers: reg
    });
    this.eventsLate = new Counter({
      name: "clickpipe_events_late_total",
      help: "Events too late for any retained state, written to late_events.",
      registers: reg
    });
    this.eventsDuplicate = new Counter({
      name: "clickpipe_events_duplicate_total",
      help: "Events ignored because their event_id (or order_id) was already seen.",
      registers: reg
    });
    this.sessionsEmitted = new Counter({
      name: "clickpipe_sessions_emitted_total",
      help: "Session versions emitted: final (version 1), update (later versions), retraction.",
      labelNames: ["kind"],
      registers: reg
    });
    this.parquetRowsWritten = new Counter({
      name: "clickpipe_parquet_rows_written_total",
      help: "Rows committed to Parquet, by table.",
      labelNames: ["table"],
      registers: reg
    });
    this.parquetFilesWritten = new Counter({
      name: "clickpipe_parquet_files_written_total",
      help: "Parquet files committed, by table.",
      labelNames: ["table"],
      registers: reg
    });
    this.openSessions = new Gauge({ name: "clickpipe_open_sessions", help: "Sessions held in state.", registers: reg });
    this.watermarkLag = new Gauge({
      name: "clickpipe_watermark_lag_seconds",
      help: "Processing time minus the event-time watermark.",
      registers: reg
    });
    this.consumerPending = new Gauge({
      name: "clickpipe_consumer_pending_messages",
      help: "JetStream messages not yet read by this worker.",
      registers: reg
    });
    this.lastCheckpoint = new Gauge({
      name: "clickpipe_last_checkpoint_timestamp_seconds",
      help: "Unix time of the last committed checkpoint.",
      registers: reg
    });
    this.stateBytes = new Gauge({
      name: "clickpipe_state_bytes",
      help: "Approximate bytes of operator state.",
      registers: reg
    });
    this.checkpointDuration = new Histogram({
      name: "clickpipe_checkpoint_duration_seconds",
      help: "Time to write Parquet parts and commit a checkpoint.",
      buckets: [5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: reg
    });
    this.checkpointFailures = new Counter({
      name: "clickpipe_checkpoint_failures_total",
      help: "Checkpoints that failed to write or commit.",
      registers: reg
    });
    this.eventLatency = new Histogram({
      name: "clickpipe_event_latency_seconds",
      help: "Event time to processing time.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers: reg
    });
    this.sessionDuration = new Histogram({
      name: "clickpipe_session_duration_seconds",
      help: "Duration of final sessions.",
      buckets: [0, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200],
      registers: reg
    });
    this.httpRequestDuration = new Histogram({
      name: "clickpipe_http_request_duration_seconds",
      help: "Collector request duration, by route and status code.",
      labelNames: ["route", "code"],
      buckets: [1e-3, 25e-4, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: reg
    });
    this.sessionsFinal = new Counter({
      name: "clickpipe_sessions_final_total",
      help: "Sessions of people (not bots) at their first final version.",
      registers: reg
    });
    this.sessionsBounced = new Counter({
      name: "clickpipe_sessions_bounced_total",
      help: "Sessions of people at their first final version that bounced.",
      registers: reg
    });
    this.sessionsConverted = new Counter({
      name: "clickpipe_sessions_converted_total",
      help: "Sessions of people at their first final version that hold a purchase.",
      registers: reg
    });
    this.revenue = new Counter({
      name: "clickpipe_revenue_total",
      help: "Revenue of the sessions of people at their first final version, in the shop's currency.",
      registers: reg
    });
    this.patternsFrequent = new Gauge({
      name: "clickpipe_patterns_frequent",
      help: "Frequent patterns found in the last closed pattern window, by kind.",
      labelNames: ["kind"],
      registers: reg
    });
    this.patternsTopSupport = new Gauge({
      name: "clickpipe_patterns_top_support",
      help: "Support (sessions) of the most frequent pattern of the last closed pattern window, by kind.",
      labelNames: ["kind"],
      registers: reg
    });
    for (const source of EVENT_SOURCES) this.eventsReceived.inc({ source }, 0);
    for (const reason of INVALID_REASONS) this.eventsInvalid.inc({ reason }, 0);
    for (const kind of SESSION_KINDS) this.sessionsEmitted.inc({ kind }, 0);
    for (const table of TABLES) {
      this.parquetRowsWritten.inc({ table }, 0);
      this.parquetFilesWritten.inc({ table }, 0);
    }
    for (const kind of PATTERN_TABLE_KINDS) {
      this.patternsFrequent.set({ kind }, 0);
      this.patternsTopSupport.set({ kind }, 0);
    }
  }
};

// src/runtime/worker.ts
import { jetstream, jetstreamManager } from "@nats-io/jetstream";

// src/sinks/parquet.ts
import { mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

// src/sinks/parquet-encoder.ts
import {
  Bool,
  DateDay,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  RecordBatch,
  Schema,
  Struct,
  Table as ArrowTable,
  TimestampMillisecond,
  Utf8,
  makeData,
  tableToIPC
} from "apache-arrow";
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
var ParquetEncodeError = class extends Error {
  name = "ParquetEncodeError";
};
var MS_PER_DAY = 864e5;
function arrowTypeOf(type) {
  switch (type) {
    case "string":
      return new Utf8();
    case "int32":
      return new Int32();
    case "int64":
      return new Int64();
    case "float64":
      return new Float64();
    case "bool":
      return new Bool();
    case "timestamp":
      return new TimestampMillisecond("UTC");
    case "date":
      return new DateDay();
    case "list<string>":
      return new List(new Field("item", new Utf8(), true));
  }
}
function arrowSchemaOf(columns) {
  return new Schema(columns.map((c) => new Field(c.name, arrowTypeOf(c.type), c.nullable !== false)));
}
function grow(array, needed) {
  if (needed <= array.length) return array;
  const grown = new array.constructor(Math.max(needed, array.length * 2));
  grown.set(array);
  return grown;
}
var BitBuilder = class {
  bits = new Uint8Array(16);
  set(index, on) {
    if (index >> 3 >= this.bits.length) this.bits = grow(this.bits, (index >> 3) + 1);
    if (on) this.bits[index >> 3] |= 1 << (index & 7);
    else this.bits[index >> 3] &= ~(1 << (index & 7));
  }
  get(index) {
    return (this.bits[index >> 3] & 1 << (index & 7)) !== 0;
  }
  countUnset(from, to) {
    let unset = 0;
    for (let i = from; i < to; i++) if (!this.get(i)) unset++;
    return unset;
  }
  seal(length) {
    const bytes = this.bits.slice(0, length + 7 >> 3);
    if (length & 7) bytes[bytes.length - 1] &= (1 << (length & 7)) - 1;
    return bytes;
  }
};
var SHORT_TEXT = 64;
var Utf8Store = class {
  bytes = Buffer.allocUnsafe(1024);
  length = 0;
  append(text) {
    const count = text.length;
    const needed = this.length + count * 3;
    if (needed > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    if (count <= SHORT_TEXT) {
      const bytes = this.bytes;
      let at = this.length;
      let i = 0;
      for (; i < count; i++) {
        const code = text.charCodeAt(i);
        if (code >= 128) break;
        bytes[at++] = code;
      }
      if (i === count) {
        this.length = at;
        return;
      }
    }
    this.length += this.bytes.write(text, this.length);
  }
  seal() {
    return new Uint8Array(this.bytes.subarray(0, this.length));
  }
};
function finiteNumber(value, column) {
  const n = typeof value === "number" ? value : value instanceof Date ? value.getTime() : Number(value);
  if (!Number.isFinite(n)) {
    throw new ParquetEncodeError(`column ${column.name} (${column.type}): ${String(value)} is not a finite number`);
  }
  return n;
}
function stringOf(value) {
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
function epochDayOf(value, column) {
  const text = String(value);
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) throw new ParquetEncodeError(`column ${column.name} (date): "${text}" is not YYYY-MM-DD`);
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / MS_PER_DAY;
}
var ColumnBuilder = class {
  constructor(column) {
    this.column = column;
  }
  column;
  validity = new BitBuilder();
  nullCount = 0;
  length = 0;
  append(value) {
    if (value === null || value === void 0) {
      if (this.column.nullable === false) {
        throw new ParquetEncodeError(`column ${this.column.name} is not nullable but a row has no value`);
      }
      this.appendNull(this.length);
      this.validity.set(this.length, false);
      this.nullCount++;
    } else {
      this.appendValue(this.length, value);
      this.validity.set(this.length, true);
    }
    this.length++;
  }
  truncate(length) {
    if (length >= this.length) return;
    this.nullCount -= this.validity.countUnset(length, this.length);
    this.truncateValues(length);
    this.length = length;
  }
};
var FixedWidthBuilder = class extends ColumnBuilder {
  constructor(column, values) {
    super(column);
    this.values = values;
  }
  values;
  lastText = void 0;
  lastDay = 0;
  appendValue(index, value) {
    if (index >= this.values.length) this.values = grow(this.values, index + 1);
    this.values[index] = this.convert(value);
  }
  appendNull(index) {
    if (index >= this.values.length) this.values = grow(this.values, index + 1);
  }
  truncateValues() {
  }
  convert(value) {
    const column = this.column;
    if (column.type === "float64") return typeof value === "number" ? value : finiteNumber(value, column);
    if (column.type === "int32") return Math.trunc(finiteNumber(value, column));
    if (value !== this.lastText) {
      this.lastDay = epochDayOf(value, column);
      this.lastText = value;
    }
    return this.lastDay;
  }
  seal() {
    return {
      nullCount: this.nullCount,
      validity: this.validity.seal(this.length),
      values: this.values.slice(0, this.length)
    };
  }
};
var TWO_POW_32 = 4294967296;
var Int64Builder = class extends ColumnBuilder {
  halves = new Int32Array(128);
  appendValue(index, value) {
    if (2 * index + 2 > this.halves.length) this.halves = grow(this.halves, 2 * index + 2);
    const n = typeof value === "bigint" ? Number(value) : Math.trunc(finiteNumber(value, this.column));
    this.halves[2 * index] = n >>> 0;
    this.halves[2 * index + 1] = Math.floor(n / TWO_POW_32);
  }
  appendNull(index) {
    if (2 * index + 2 > this.halves.length) this.halves = grow(this.halves, 2 * index + 2);
    this.halves[2 * index] = 0;
    this.halves[2 * index + 1] = 0;
  }
  truncateValues() {
  }
  seal() {
    const halves = this.halves.slice(0, 2 * this.length);
    return { nullCount: this.nullCount, validity: this.validity.seal(this.length), values: new BigInt64Array(halves.buffer) };
  }
};
var BoolBuilder = class extends ColumnBuilder {
  bits = new BitBuilder();
  appendValue(index, value) {
    this.bits.set(index, Boolean(value));
  }
  appendNull(index) {
    this.bits.set(index, false);
  }
  truncateValues() {
  }
  seal() {
    return { nullCount: this.nullCount, validity: this.validity.seal(this.length), values: this.bits.seal(this.length) };
  }
};
var StringBuilder = class extends ColumnBuilder {
  offsets = new Int32Array(64);
  text = new Utf8Store();
  appendValue(index, value) {
    this.text.append(stringOf(value));
    this.appendNull(index);
  }
  appendNull(index) {
    if (index + 2 > this.offsets.length) this.offsets = grow(this.offsets, index + 2);
    this.offsets[index + 1] = this.text.length;
  }
  truncateValues(length) {
    this.text.length = this.offsets[length];
  }
  seal() {
    return {
      nullCount: this.nullCount,
      validity: this.validity.seal(this.length),
      values: this.text.seal(),
      offsets: this.offsets.slice(0, this.length + 1)
    };
  }
};
var StringListBuilder = class extends ColumnBuilder {
  offsets = new Int32Array(64);
  itemOffsets = new Int32Array(64);
  itemValidity = new BitBuilder();
  itemCount = 0;
  itemNullCount = 0;
  text = new Utf8Store();
  appendValue(index, value) {
    if (!Array.isArray(value)) {
      throw new ParquetEncodeError(`column ${this.column.name} (list<string>): expected an array, got ${typeof value}`);
    }
    for (const item of value) {
      const present = item !== null && item !== void 0;
      if (present) this.text.append(stringOf(item));
      else this.itemNullCount++;
      this.itemValidity.set(this.itemCount, present);
      this.itemCount++;
      if (this.itemCount + 1 > this.itemOffsets.length) this.itemOffsets = grow(this.itemOffsets, this.itemCount + 1);
      this.itemOffsets[this.itemCount] = this.text.length;
    }
    this.appendNull(index);
  }
  appendNull(index) {
    if (index + 2 > this.offsets.length) this.offsets = grow(this.offsets, index + 2);
    this.offsets[index + 1] = this.itemCount;
  }
  truncateValues(length) {
    const itemCount = this.offsets[length];
    this.itemNullCount -= this.itemValidity.countUnset(itemCount, this.itemCount);
    this.itemCount = itemCount;
    this.text.length = this.itemOffsets[itemCount];
  }
  seal() {
    return {
      nullCount: this.nullCount,
      validity: this.validity.seal(this.length),
      values: this.text.seal(),
      offsets: this.offsets.slice(0, this.length + 1),
      itemOffsets: this.itemOffsets.slice(0, this.itemCount + 1),
      itemValidity: this.itemValidity.seal(this.itemCount),
      itemNullCount: this.itemNullCount
    };
  }
};
function columnBuilderFor(column) {
  switch (column.type) {
    case "string":
      return new StringBuilder(column);
    case "int32":
    case "date":
      return new FixedWidthBuilder(column, new Int32Array(64));
    case "float64":
      return new FixedWidthBuilder(column, new Float64Array(64));
    case "int64":
    case "timestamp":
      return new Int64Builder(column);
    case "bool":
      return new BoolBuilder(column);
    case "list<string>":
      return new StringListBuilder(column);
  }
}
var ColumnBatchBuilder = class {
  constructor(columns) {
    this.columns = columns;
    this.builders = columns.map(columnBuilderFor);
  }
  columns;
  builders;
  length = 0;
  /** Appends one row, or throws ParquetEncodeError and leaves the batch as it was. */
  append(row) {
    const builders = this.builders;
    let done = 0;
    try {
      for (; done < builders.length; done++) builders[done].append(row[builders[done].column.name]);
    } catch (error) {
      for (let i = 0; i < done; i++) builders[i].truncate(this.length);
      throw error;
    }
    this.length++;
  }
  seal() {
    return { columns: this.columns, length: this.length, data: this.builders.map((b) => b.seal()) };
  }
};
function transferListOf(batch) {
  const buffers = /* @__PURE__ */ new Set();
  for (const column of batch.data) {
    for (const array of [column.validity, column.values, column.offsets, column.itemOffsets, column.itemValidity]) {
      if (array) buffers.add(array.buffer);
    }
  }
  return [...buffers];
}
function arrowDataOf(sealed, field, length) {
  const common = { length, nullCount: sealed.nullCount, nullBitmap: sealed.validity };
  const type = field.type;
  if (type instanceof Utf8) {
    return makeData({ ...common, type, valueOffsets: sealed.offsets, data: sealed.values });
  }
  if (type instanceof List) {
    const itemCount = sealed.itemOffsets.length - 1;
    const child = makeData({
      type: new Utf8(),
      length: itemCount,
      nullCount: sealed.itemNullCount,
      nullBitmap: sealed.itemValidity,
      valueOffsets: sealed.itemOffsets,
      data: sealed.values
    });
    return makeData({ ...common, type, valueOffsets: sealed.offsets, child });
  }
  return makeData({ ...common, type, data: sealed.values });
}
function sealedBatchToArrow(batch) {
  const schema = arrowSchemaOf(batch.columns);
  const children = batch.data.map((column, i) => arrowDataOf(column, schema.fields[i], batch.length));
  const struct = makeData({ type: new Struct(schema.fields), length: batch.length, nullCount: 0, children });
  return new ArrowTable(schema, [new RecordBatch(schema, struct)]);
}
var COMPRESSION = {
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
  none: Compression.UNCOMPRESSED
};
function encodeSealedBatch(batch, options) {
  const wasmTable = WasmTable.fromIPCStream(tableToIPC(sealedBatchToArrow(batch), "stream"));
  const properties = new WriterPropertiesBuilder().setCompression(COMPRESSION[options.compression]).setMaxRowGroupSize(options.rowGroupSize).setCreatedBy("clickpipe").build();
  return writeParquet(wasmTable, properties);
}

// src/sinks/parquet.ts
var IN_PROGRESS_SUFFIX = ".inprogress";
var SUCCESS_MARKER = "_SUCCESS";
var DEFAULT_ROW_GROUP_SIZE = 1e5;
var DEFAULT_MAX_ROWS_PER_FILE = 5e5;
var MAX_EPOCH = 9999999999;
function partFileName(epoch, index, writerId) {
  const writer = writerId ? `${writerId}-` : "";
  return `part-${writer}${String(epoch).padStart(10, "0")}-${String(index).padStart(4, "0")}.parquet`;
}
var ParquetSink = class {
  root;
  encodeOptions;
  maxRowsPerFile;
  metrics;
  writerId;
  encoderThread;
  tables = /* @__PURE__ */ new Map();
  requestedMarkers = /* @__PURE__ */ new Set();
  rowCount = 0;
  constructor(options) {
    if (options.writerId !== void 0 && !/^[A-Za-z0-9_]+$/.test(options.writerId)) {
      throw new Error(`parquet sink writerId "${options.writerId}": use letters, digits and _ only`);
    }
    this.root = options.path;
    this.encodeOptions = {
      compression: options.compression ?? "zstd",
      rowGroupSize: options.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE
    };
    this.maxRowsPerFile = options.maxRowsPerFile ?? DEFAULT_MAX_ROWS_PER_FILE;
    this.metrics = options.metrics;
    this.writerId = options.writerId;
    if (options.useWorkerThread !== false) this.encoderThread = new EncoderPool(options.encoderThreads ?? defaultEncoderThreads());
    for (const spec of options.tables) {
      if (this.tables.has(spec.name)) throw new Error(`parquet sink: table ${spec.name} declared twice`);
      this.tables.set(spec.name, { spec, partitions: /* @__PURE__ */ new Map() });
    }
  }
  /** Buffers one row; throws ParquetEncodeError (row not buffered) when a value does not fit its column. */
  append(table, row) {
    const buffer = this.tableBuffer(table);
    const value = buffer.spec.partitionOf(row);
    const partition = buffer.partitions.get(value) ?? this.openPartition(buffer, value);
    partition.current.append(row);
    if (this.rowCount++ === 0) this.encoderThread?.warm();
    if (partition.current.length >= this.maxRowsPerFile) {
      partition.sealed.push(partition.current.seal());
      partition.current = new ColumnBatchBuilder(buffer.spec.columns);
    }
  }
  bufferedRows() {
    return this.rowCount;
  }
  /** Requests `<table>/<key>=<partition>/_SUCCESS`, written by the commit of the next prepare. */
  markSuccess(table, partition) {
    const { spec } = this.tableBuffer(table);
    this.requestedMarkers.add(`${partitionDirectory(spec, partition)}/${SUCCESS_MARKER}`);
  }
  /**
   * Encodes every buffered row into fsynced `.inprogress` parts and returns what the checkpoint must store.
   * Rows appended while this runs belong to the next epoch. When it rejects, the buffered rows are gone:
   * treat it as a crash (recover, replay from the last checkpoint).
   */
  async prepare(epoch) {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
      throw new Error(`parquet sink: epoch ${epoch} must be an integer in [0, ${MAX_EPOCH}]`);
    }
    const jobs = this.drainBuffers(epoch);
    const markers = [...this.requestedMarkers].sort();
    this.requestedMarkers = /* @__PURE__ */ new Set();
    const directories = new Set(jobs.map((job) => dirname(job.file.path)));
    await Promise.all([...directories].map((directory) => mkdir(join(this.root, directory), { recursive: true })));
    const bySize = [...jobs].sort((a, b) => b.batch.length - a.batch.length);
    await Promise.all(
      bySize.map(async (job) => {
        const bytes = await this.encode(job.batch);
        await writeFileDurably(join(this.root, job.file.path + IN_PROGRESS_SUFFIX), bytes);
      })
    );
    return { epoch, files: jobs.map((job) => job.file), markers };
  }
  /** Publishes a prepared epoch (after its checkpoint committed): renames parts, writes markers, fsyncs folders. */
  async commit(pending) {
    const summary = await finishCommit(this.root, pending);
    if (!this.metrics) return;
    for (const file of summary.renamedFiles) {
      this.metrics.parquetRowsWritten.inc({ table: file.table }, file.rows);
      this.metrics.parquetFilesWritten.inc({ table: file.table });
    }
  }
  /**
   * Startup recovery: finishes the renames and markers of the last committed checkpoint (idempotent), then
   * deletes every other in-progress part under `path` (only this writer's when writerId is given).
   */
  static async recover(path, pending, options = {}) {
    if (!await exists(path)) {
      return { renamed: 0, alreadyCommitted: 0, missing: pending ? pending.files.map((f) => f.path) : [], deletedInProgress: 0 };
    }
    const summary = pending ? await finishCommit(path, pending) : { renamedFiles: [], alreadyCommitted: 0, missing: [] };
    const prefix = options.writerId ? `part-${options.writerId}-` : "";
    const deletedInProgress = await deleteInProgressParts(path, prefix);
    return {
      renamed: summary.renamedFiles.length,
      alreadyCommitted: summary.alreadyCommitted,
      missing: summary.missing,
      deletedInProgress
    };
  }
  async close() {
    await this.encoderThread?.close();
  }
  tableBuffer(table) {
    const buffer = this.tables.get(table);
    if (!buffer) throw new Error(`parquet sink: unknown table ${table} (declared: ${[...this.tables.keys()].join(", ")})`);
    return buffer;
  }
  openPartition(buffer, value) {
    const partition = {
      directory: partitionDirectory(buffer.spec, value),
      sealed: [],
      current: new ColumnBatchBuilder(buffer.spec.columns)
    };
    buffer.partitions.set(value, partition);
    return partition;
  }
  /** Takes every buffered batch out, in a deterministic order: table, partition value, then append order. */
  drainBuffers(epoch) {
    const jobs = [];
    for (const name of [...this.tables.keys()].sort()) {
      const buffer = this.tables.get(name);
      for (const value of [...buffer.partitions.keys()].sort()) {
        const partition = buffer.partitions.get(value);
        const batches = partition.current.length > 0 ? [...partition.sealed, partition.current.seal()] : partition.sealed;
        batches.forEach((batch, index) => {
          const path = `${partition.directory}/${partFileName(epoch, index, this.writerId)}`;
          jobs.push({ file: { path, table: name, rows: batch.length }, batch });
        });
      }
      buffer.partitions = /* @__PURE__ */ new Map();
    }
    this.rowCount = 0;
    return jobs;
  }
  encode(batch) {
    if (this.encoderThread) return this.encoderThread.encode(batch, this.encodeOptions);
    return Promise.resolve(encodeSealedBatch(batch, this.encodeOptions));
  }
};
function partitionDirectory(spec, value) {
  if (typeof value !== "string" || value === "" || value === "." || value === ".." || /[/\\\0]/.test(value)) {
    throw new Error(`table ${spec.name}: partition value ${JSON.stringify(value)} cannot be a folder name`);
  }
  return `${spec.name}/${spec.partitionKey}=${value}`;
}
async function finishCommit(root, pending) {
  const renamedFiles = [];
  const missing = [];
  let alreadyCommitted = 0;
  await Promise.all(
    pending.files.map(async (file) => {
      const final = join(root, file.path);
      try {
        await rename(final + IN_PROGRESS_SUFFIX, final);
        renamedFiles.push(file);
      } catch (error) {
        if (error.code !== "ENOENT") throw error;
        if (await exists(final)) alreadyCommitted++;
        else missing.push(file.path);
      }
    })
  );
  await Promise.all(
    pending.markers.map(async (marker) => {
      await mkdir(join(root, dirname(marker)), { recursive: true });
      await writeFileDurably(join(root, marker), new Uint8Array(0));
    })
  );
  const directories = /* @__PURE__ */ new Set();
  for (const path of [...pending.files.map((f) => f.path), ...pending.markers]) {
    for (let directory = dirname(path); directory !== "."; directory = dirname(directory)) directories.add(directory);
  }
  await Promise.all([...directories].map((directory) => syncDirectory(join(root, directory))));
  if (directories.size > 0) await syncDirectory(root);
  return { renamedFiles, alreadyCommitted, missing };
}
async function deleteInProgressParts(directory, namePrefix) {
  let deleted = 0;
  for (const entry2 of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry2.name);
    if (entry2.isDirectory()) {
      if (!entry2.name.startsWith("_") && !entry2.name.startsWith(".")) deleted += await deleteInProgressParts(path, namePrefix);
    } else if (entry2.name.endsWith(IN_PROGRESS_SUFFIX) && entry2.name.startsWith(namePrefix)) {
      await unlink(path);
      deleted++;
    }
  }
  return deleted;
}
async function writeFileDurably(path, bytes) {
  const handle = await open(path, "w");
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
async function syncDirectory(path) {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
function startEncoderWorker() {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./parquet-encoder-worker.js", import.meta.url));
  const entry2 = new URL("./parquet-encoder-worker.ts", import.meta.url).href;
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { (tsx.register ?? tsx.default.register)(); return import(${JSON.stringify(entry2)}); })`;
  return new Worker(bootstrap, { eval: true });
}
function defaultEncoderThreads() {
  return Math.min(2, Math.max(1, availableParallelism()));
}
var EncoderPool = class {
  threads;
  constructor(size) {
    this.threads = Array.from({ length: Math.max(1, size) }, () => new EncoderThread());
  }
  warm() {
    for (const thread of this.threads) thread.warm();
  }
  encode(batch, options) {
    let least = this.threads[0];
    for (const thread of this.threads) if (thread.queuedRows < least.queuedRows) least = thread;
    return least.encode(batch, options);
  }
  async close() {
    await Promise.all(this.threads.map((thread) => thread.close()));
  }
};
var EncoderThread = class {
  /** Rows of the requests sent and not yet answered. */
  queuedRows = 0;
  worker;
  nextId = 0;
  waiting = /* @__PURE__ */ new Map();
  /** Starts the thread (module loading) ahead of the first encode; a no-op once running. */
  warm() {
    if (this.worker === void 0) this.start();
  }
  encode(batch, options) {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    const request = { id, batch, options };
    const rows = batch.length;
    this.queuedRows += rows;
    const settle = () => {
      this.queuedRows -= rows;
    };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, {
        resolve: (bytes) => {
          settle();
          resolve(bytes);
        },
        reject: (error) => {
          settle();
          reject(error);
        }
      });
      worker.ref();
      worker.postMessage(request, transferListOf(batch));
    });
  }
  async close() {
    const worker = this.worker;
    this.worker = void 0;
    if (worker) await worker.terminate();
  }
  start() {
    const worker = startEncoderWorker();
    worker.on("message", (response) => {
      const waiter = this.waiting.get(response.id);
      if (!waiter) return;
      this.waiting.delete(response.id);
      if (this.waiting.size === 0) worker.unref();
      if ("bytes" in response) waiter.resolve(response.bytes);
      else waiter.reject(new Error(`parquet encoder thread: ${response.error}`));
    });
    const failAll = (error) => {
      if (this.worker === worker) this.worker = void 0;
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    worker.on("error", failAll);
    worker.on("exit", (code) => failAll(new Error(`parquet encoder thread exited with code ${code}`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
};

// src/transport/connection.ts
import { connect } from "@nats-io/transport-node";
import { credsAuthenticator } from "@nats-io/nats-core";
import { z as z9 } from "zod";
var DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
var STREAM_NAME_PATTERN = /^[A-Za-z0-9_-]{1,200}$/;
var tlsConfig = z9.strictObject({
  ca: z9.string().min(1).optional().describe("Path to the CA certificate (PEM) that signed the server's certificate."),
  cert: z9.string().min(1).optional().describe("Path to the client certificate (PEM) for mutual TLS."),
  key: z9.string().min(1).optional().describe("Path to the client private key (PEM) for mutual TLS.")
});
var natsConfig = z9.strictObject({
  url: z9.string().min(1).default(DEFAULT_NATS_URL).describe(`NATS server URL, or several separated by commas. Default ${DEFAULT_NATS_URL}.`),
  stream: z9.string().regex(STREAM_NAME_PATTERN, "expected a JetStream stream name of letters, digits, '_' or '-' (e.g. CLICKPIPE_EVENTS)").describe("JetStream stream holding <stream>.events.<p> and <stream>.dlq; created if missing. Example: CLICKPIPE_EVENTS"),
  partitions: z9.number().int().min(1).max(1024).default(1).describe("Number of event partitions (<stream>.events.0 .. <stream>.events.<partitions-1>). Default 1."),
  credentials: z9.string().min(1).optional().describe("Path to a NATS .creds file (JWT + nkey seed)."),
  user: z9.string().min(1).optional().describe("User name; take it from the environment, e.g. ${NATS_USER}."),
  password: z9.string().optional().describe("Password for `user`; take it from the environment, e.g. ${NATS_PASSWORD}."),
  token: z9.string().min(1).optional().describe("Authentication token; take it from the environment, e.g. ${NATS_TOKEN}."),
  tls: tlsConfig.optional().describe("TLS settings (file paths); when present the connection requires TLS. Example: { ca: /etc/nats/ca.pem }")
}).describe("Where the pipeline's events live: the NATS server and JetStream stream.");

// src/transport/stream.ts
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
var DUPLICATE_WINDOW_MS = 2 * 6e4;

// src/runtime/fault-injection.ts
var CRASH_STEPS = ["after-prepare", "checkpoint-written", "after-checkpoint", "after-rename"];
function parseCrashPlan(text) {
  if (text === void 0 || text === "") return void 0;
  const match = /^([a-z-]+)(?::(\d+))?(?:@(\d+))?$/.exec(text);
  const step = match?.[1];
  if (!match || step === void 0 || !CRASH_STEPS.includes(step)) {
    throw new Error(`CLICKPIPE_CRASH_AT=${text}: expected one of ${CRASH_STEPS.join(", ")} (after-rename:<n>), optionally @<checkpoint>`);
  }
  return { step, renames: Number(match[2] ?? 0), checkpoint: Number(match[3] ?? 3) };
}
var crashPlan = parseCrashPlan(process.env.CLICKPIPE_CRASH_AT);

// src/runtime/worker.ts
var PREFETCH_BYTES = 8 * 1024 * 1024;
function operatorEnvironment(config) {
  const sessionize = config.operators.find((op) => op.type === "sessionize");
  return {
    pipelineName: config.name,
    session: sessionize !== void 0 && sessionize.type === "sessionize" ? { gap: sessionize.gap, allowedLateness: sessionize.allowedLateness } : void 0
  };
}

// bench/pipeline.ts
function benchPipeline(url, stream, out) {
  return `name: bench
nats:
  url: ${url}
  stream: ${stream}
ingest:
  urlRules:
    - { match: "/c/:category/p/:id", item: ":category/product" }
operators:
  - type: sessionize
  - type: sequencePatterns
    window: 1h
    minSupport: 0.01
  - type: basket
    window: 1d
  - type: churnFeatures
sinks:
  - type: parquet
    path: ${out}
checkpoint:
  interval: 10s
`;
}

// bench/stages.ts
var VISITORS = Number(process.env.BENCH_VISITORS ?? 5e4);
var DAYS = Number(process.env.BENCH_DAYS ?? 3);
var BATCH = 100;
var CountingSink = class {
  rows = 0;
  append(_table, _row) {
    this.rows++;
  }
  markSuccess() {
  }
};
function cpuSecondsOf(work) {
  const before2 = process.cpuUsage();
  work();
  const used = process.cpuUsage(before2);
  return (used.user + used.system) / 1e6;
}
function publishedLines(config) {
  const edge = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: process.env });
  const lines = [];
  for (const line of generateLines({ visitors: VISITORS, days: DAYS, seed: 42 })) {
    const decoded = decodeRecord(line, Date.now());
    if (!decoded.ok) continue;
    const result = edge.process(decoded.event);
    if (result.kind === "filtered") continue;
    if (result.kind === "bot") result.event.is_bot = true;
    lines.push(JSON.stringify(result.event));
  }
  return lines;
}
function runPipeline(config, lines, operatorCount, sink) {
  const environment = operatorEnvironment(config);
  const operators = config.operators.slice(0, operatorCount).map((operator) => createOperator(operator, environment));
  const pipeline = new Pipeline({ operators, sink, metrics: new Metrics(), bots: config.ingest.bots });
  const receivedAt = Date.now();
  for (let start = 0; start < lines.length; start += BATCH) {
    const origin = { partition: 0, sequence: start / BATCH + 1 };
    for (let i = start; i < Math.min(lines.length, start + BATCH); i++) {
      const decoded = decodeRecord(lines[i], receivedAt);
      if (decoded.ok) pipeline.processEvent(decoded.event, origin);
    }
  }
  pipeline.end();
}
async function measureStages() {
  const loaded = parsePipelineText(benchPipeline("nats://127.0.0.1:4222", "BENCH_STAGES", "/nonexistent"), "bench.yaml", process.env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const config = loaded.config;
  const lines = publishedLines(config);
  const stages = [];
  const record = (stage, cpuSeconds, rows) => {
    stages.push({ stage, cpuSeconds, eventsPerCpuSecond: lines.length / cpuSeconds, rows });
    console.error(`stage ${stage}: ${Math.round(lines.length / cpuSeconds).toLocaleString("en")} events per CPU second`);
  };
  runPipeline(config, lines.slice(0, 5e4), config.operators.length, new CountingSink());
  record("JSON.parse", cpuSecondsOf(() => lines.forEach((line) => JSON.parse(line))));
  record("decode (JSON.parse + validation)", cpuSecondsOf(() => runPipeline(config, lines, 0, new CountingSink())));
  for (let count = 1; count <= config.operators.length; count++) {
    const sink = new CountingSink();
    const names = config.operators.slice(0, count).map((operator) => operator.type).join(" + ");
    record(`decode + ${names}`, cpuSecondsOf(() => runPipeline(config, lines, count, sink)), sink.rows);
  }
  const environment = operatorEnvironment(config);
  const tables = [
    ...config.operators.flatMap((operator) => createOperator(operator, environment).tables),
    invalidEventsTable,
    lateEventsTable,
    botsTable
  ];
  const out = await mkdtemp(join2(tmpdir(), "clickpipe-stages-"));
  try {
    const parquet = new ParquetSink({ path: out, tables, useWorkerThread: false });
    record("all operators + Parquet append (columnar buffers)", cpuSecondsOf(() => runPipeline(config, lines, config.operators.length, parquet)), parquet.bufferedRows());
    const rows = parquet.bufferedRows();
    const before2 = process.cpuUsage();
    const started = performance.now();
    await parquet.prepare(1);
    const used = process.cpuUsage(before2);
    const encode = { rows, cpuSeconds: (used.user + used.system) / 1e6, seconds: (performance.now() - started) / 1e3 };
    console.error(`Parquet encode + fsync: ${Math.round(rows / encode.seconds).toLocaleString("en")} rows/s (${rows} rows)`);
    return { events: lines.length, stages, parquetEncode: { ...encode, rowsPerSecond: rows / encode.seconds } };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
async function profileRun(operatorCount) {
  const loaded = parsePipelineText(benchPipeline("nats://127.0.0.1:4222", "BENCH_STAGES", "/nonexistent"), "bench.yaml", process.env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const config = loaded.config;
  const lines = publishedLines(config);
  const environment = operatorEnvironment(config);
  const tables = [...config.operators.flatMap((operator) => createOperator(operator, environment).tables), invalidEventsTable, lateEventsTable, botsTable];
  for (let round = 0; round < 3; round++) {
    const sink = process.env.BENCH_PROFILE_PARQUET === "1" ? new ParquetSink({ path: "/nonexistent", tables, useWorkerThread: false }) : new CountingSink();
    const cpu = cpuSecondsOf(() => runPipeline(config, lines, operatorCount, sink));
    console.error(`round ${round}: ${Math.round(lines.length / cpu).toLocaleString("en")} events per CPU second`);
  }
}
if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.env.BENCH_PROFILE_OPERATORS !== void 0) await profileRun(Number(process.env.BENCH_PROFILE_OPERATORS));
  else process.stdout.write(JSON.stringify(await measureStages()) + "\n");
}
export {
  measureStages
};
