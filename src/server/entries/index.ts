export { EntryIndex, type AuthorizedEntries, type EntryIndexConfig } from './authorized.js';
