// Parses one PromQL expression (standard input) with Prometheus's own grammar,
// @prometheus-io/lezer-promql (the version package-lock.json pins is the
// pinned Prometheus release's), and prints what it names as JSON: the parse
// errors' offsets, metric names, grouping labels and functions.
import { readFileSync } from "node:fs";
import { parser } from "@prometheus-io/lezer-promql";

const query = readFileSync(0, "utf8").trim();
const named = { errors: [], metrics: [], groupingLabels: [], functions: [] };
parser.parse(query).iterate({
  enter(ref) {
    const text = query.slice(ref.from, ref.to);
    const parent = ref.node.parent?.name;
    if (ref.type.isError) named.errors.push(ref.from);
    else if (ref.name === "Identifier" && parent === "VectorSelector")
      named.metrics.push(text);
    else if (ref.name === "LabelName" && parent === "GroupingLabels")
      named.groupingLabels.push(text);
    else if (ref.name === "FunctionIdentifier" || ref.name === "AggregateOp")
      named.functions.push(text);
  },
});
console.log(JSON.stringify(named));
