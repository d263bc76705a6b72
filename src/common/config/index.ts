export { ConfigError, type ConfigErrorReason } from './errors.js';
export { loadConfigFile, parseConfigText } from './load.js';
export {
  defineSchema,
  validateConfig,
  configProblems,
  type Schema,
  type Infer,
  type StringSchema,
  type IntSchema,
  type BoolSchema,
  type EnumSchema,
  type ArraySchema,
  type ObjectSchema,
  type MapSchema,
} from './schema.js';
export { checkHostPort } from './host-port.js';
export { expandEnv } from './env.js';
