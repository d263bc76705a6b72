export { openSqliteDatabase, openSqliteDatastore, type SqliteDatastoreOptions } from './open.js';
export { MIGRATIONS } from './migrations.js';
