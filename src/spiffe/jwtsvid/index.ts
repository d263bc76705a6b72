export {
  JWT_SVID_VALIDATION_ALGORITHMS,
  DEFAULT_LEEWAY_SECONDS,
  type JwtSvid,
  type JwtSvidAlgorithm,
  type JwtSvidJoseHeader,
} from './jwt-svid.js';
export { mintJwtSvid, type MintJwtSvidParams } from './mint.js';
export { parseAndValidateJwtSvid, parseInsecureJwtSvid, type JwtSvidValidationOptions } from './validate.js';
