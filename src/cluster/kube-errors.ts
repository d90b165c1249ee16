// Failures of Kubernetes API calls, told with what was being done and the server's own message.
import { ApiException } from '@kubernetes/client-node';

/** Runs an API call; failures name what was being done and keep the client's error as cause. */
export async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${what}: ${explain(err)}`, { cause: err });
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err instanceof Error && err.cause instanceof ApiException ? err.cause : err;
  return e instanceof ApiException && e.code === 404;
}

export function explain(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    const message = body && typeof body === 'object' && 'message' in body ? String(body.message) : undefined;
    return `HTTP ${err.code}${message ? `: ${message}` : ''}`;
  }
  if (err instanceof Error) {
    // fetch reports "fetch failed" and puts the reason (ECONNREFUSED, …) in cause.
    return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
  }
  return String(err);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
