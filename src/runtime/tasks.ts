// The units a partitioned pipeline (nats.partitions > 1) is split into: one task per subject, each with its own
// lease, checkpoint, operators and part names, so any worker can run any task and resume it from its checkpoint.
import type { PipelineConfig } from "../config/pipeline.ts";
import { customersSubject, dlqSubject, eventsSubject } from "../transport/subjects.ts";

/**
 * - `events`: one visitor partition `<S>.events.<p>`: decode, edge filters, sessionize; forwards what the
 *   customer-level operators need to `<S>.customers.<q>`, re-keyed by customer.
 * - `customers`: one customer partition: sequencePatterns, basket, churnFeatures over the forwarded records.
 * - `dlq`: the dead letters `<S>.dlq` into `invalid_events`.
 */
export type TaskKind = "events" | "customers" | "dlq";

export interface TaskPlan {
  /** `events-3`, `customers-0`, `dlq`: the lease key, and part of the checkpoint and part names. */
  name: string;
  kind: TaskKind;
  partition: number;
  /** The one subject the task reads (nats-server before 2.10 filters on one subject per consumer). */
  subject: string;
  /** Operator types this task runs. */
  operators: string[];
}

/** Operators that run per visitor, in the events tasks; every other operator runs in the customers tasks. */
const VISITOR_OPERATORS = new Set(["sessionize"]);

export function isPartitioned(config: PipelineConfig): boolean {
  return config.nats.partitions > 1;
}

/** Every task of a partitioned pipeline, events tasks first. */
export function planTasks(config: PipelineConfig): TaskPlan[] {
  const { stream, partitions, customerPartitions } = config.nats;
  const types = config.operators.map((operator) => operator.type);
  const visitorLevel = types.filter((type) => VISITOR_OPERATORS.has(type));
  const customerLevel = types.filter((type) => !VISITOR_OPERATORS.has(type));
  const tasks: TaskPlan[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    tasks.push({ name: eventsTaskName(partition), kind: "events", partition, subject: eventsSubject(stream, partition), operators: visitorLevel });
  }
  if (customerLevel.length > 0) {
    for (let partition = 0; partition < customerPartitions; partition++) {
      tasks.push({
        name: `customers-${partition}`,
        kind: "customers",
        partition,
        subject: customersSubject(stream, partition),
        operators: customerLevel,
      });
    }
  }
  tasks.push({ name: "dlq", kind: "dlq", partition: 0, subject: dlqSubject(stream), operators: [] });
  return tasks;
}

/** `events-3`: the events task of one visitor partition. */
export function eventsTaskName(partition: number): string {
  return `events-${partition}`;
}

/** The checkpoint name of a task: the pipeline's own name stays for unpartitioned runs. */
export function taskCheckpointName(pipelineName: string, task: Pick<TaskPlan, "name">): string {
  return `${pipelineName}.${task.name}`;
}
