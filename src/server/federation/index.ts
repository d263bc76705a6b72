export { FederationRefresher, DEFAULT_REFRESH_SECONDS, MAX_REFRESH_SECONDS, type FederationRefresherOptions } from './refresher.js';
export { fetchBundleDocument, type EndpointAuth, type FetchOptions } from './fetch.js';
export type {
  BundleEndpointProfile,
  FederatedBundleSource,
  FederationControl,
  FederationRelationship,
  FederationRelationshipInput,
  FederationStatus,
  OperatorBundle,
} from './types.js';
