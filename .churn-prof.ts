import { OperatorHarness } from "./tests/helpers/operator-harness.ts";
import { cdnowEvent, churnOperator, readCdnowSample } from "./tests/operators/churn-features-fixtures.ts";
const rows = readCdnowSample().sort((a, b) => a.ts - b.ts);
class Count extends OperatorHarness { n = 0; emit() { this.n++; } }
for (let k = 0; k < 3; k++) {
const h = new Count(); const op = churnOperator();
const t = performance.now();
rows.forEach((r, i) => h.send(op, cdnowEvent(r), { partition: 0, sequence: i }));
op.onEnd(h);
console.log(h.n, performance.now() - t);
const t2 = performance.now(); const s = JSON.stringify(op.snapshot()); console.log("snap", s.length, performance.now() - t2);
}
