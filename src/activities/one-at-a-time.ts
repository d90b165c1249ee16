// Steps that run at once (the workflow's together) may both ensure the same server is up: its
// start (find it running, or launch it) runs one at a time per server in this worker process, so
// two calls never launch two servers or write its state at once.
const queues = new Map<string, Promise<unknown>>();

export function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const next = (queues.get(key) ?? Promise.resolve()).then(fn, fn);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return next;
}
