/** The one way server and agent code learn the time, so tests can drive it (src/spiffe takes `now` as a parameter). */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = {
  now: () => new Date(),
};

/** Whole Unix seconds of a clock's current time (the unit of the datastore's and the protos' timestamps). */
export function unixSeconds(clock: Clock): number {
  return Math.floor(clock.now().getTime() / 1000);
}
