// The operator registry: each pipeline `type` maps to its zod config, factory, description and example, by plain imports.
import type { z } from "zod";
import type { Operator } from "../runtime/operator.ts";
import type { OperatorEnvironment } from "./environment.ts";
import { basketConfig, basketExample, createBasket } from "./basket.ts";
import { churnFeaturesConfig, churnFeaturesExample, createChurnFeatures } from "./churn-features.ts";
import { createSequencePatterns, sequencePatternsConfig, sequencePatternsExample } from "./sequence-patterns.ts";
import { createSessionize, sessionizeConfig, sessionizeExample } from "./sessionize.ts";

export interface OperatorEntry<Schema extends z.ZodType> {
  config: Schema;
  create(config: z.output<Schema>, environment: OperatorEnvironment): Operator;
  example: Record<string, unknown>;
}

function entry<Schema extends z.ZodType>(
  config: Schema,
  create: (config: z.output<Schema>, environment: OperatorEnvironment) => Operator,
  example: Record<string, unknown>,
): OperatorEntry<Schema> {
  return { config, create, example };
}

export const operatorRegistry = {
  sessionize: entry(sessionizeConfig, createSessionize, sessionizeExample),
  sequencePatterns: entry(sequencePatternsConfig, createSequencePatterns, sequencePatternsExample),
  basket: entry(basketConfig, createBasket, basketExample),
  churnFeatures: entry(churnFeaturesConfig, createChurnFeatures, churnFeaturesExample),
} as const;

export type OperatorType = keyof typeof operatorRegistry;

/** Pipeline-file operator configs, discriminated by `type`. */
export const operatorConfigSchemas = [
  sessionizeConfig,
  sequencePatternsConfig,
  basketConfig,
  churnFeaturesConfig,
] as const;

export type OperatorConfig = z.output<(typeof operatorConfigSchemas)[number]>;

/** Builds the operator a config names. */
export function createOperator(config: OperatorConfig, environment: OperatorEnvironment): Operator {
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
