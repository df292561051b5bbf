import { Prisma } from '../generated/prisma/client.js';

interface DriverAdapterCause {
  originalCode?: string;
  kind?: string;
  constraint?: { index?: string; fields?: string[] };
}

/**
 * True when `error` is a unique violation of the named constraint, raised by a model call (P2002)
 * or a raw statement (P2010). Prisma 7 no longer fills `meta.target`; with a driver adapter the
 * database's own error sits under `meta.driverAdapterError.cause`.
 */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (error.code !== 'P2002' && error.code !== 'P2010') return false;
  const adapterError = (error.meta as { driverAdapterError?: { cause?: DriverAdapterCause } } | undefined)?.driverAdapterError;
  const cause = adapterError?.cause;
  return cause?.originalCode === '23505' && cause.constraint?.index === constraint;
}
