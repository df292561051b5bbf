/**
 * What counts as text Tickler can store. PostgreSQL `text` cannot hold U+0000 (it answers 22021),
 * and a lone UTF-16 surrogate (U+D800–U+DFFF without its pair) is not a Unicode scalar value, so it
 * has no UTF-8 form: the driver would replace it with U+FFFD, silently changing what was sent.
 * Both are refused wherever a string comes in (GraphQL arguments, token claims), before any SQL.
 */

/**
 * A NUL or a lone surrogate. With the `u` flag a well-formed surrogate pair is read as one code point
 * above U+FFFF, so the class matches only surrogates that stand alone.
 */
const UNSTORABLE_PATTERN = /\u0000|[\uD800-\uDFFF]/u;

/** Why `value` cannot be stored as text, or null when it can. */
export function unstorableTextReason(value: string): string | null {
  const match = UNSTORABLE_PATTERN.exec(value);
  if (match === null) return null;
  return match[0] === '\u0000' ? 'contains a NUL character (U+0000)' : 'contains a lone UTF-16 surrogate (not valid Unicode)';
}

/**
 * The first string inside `value` (a GraphQL argument: strings, lists, input objects) that cannot be
 * stored, with its path (`input.title`, `reminders.2.note`); null when every string is fine.
 */
export function findUnstorableText(value: unknown, path: string): { path: string; reason: string } | null {
  if (typeof value === 'string') {
    const reason = unstorableTextReason(value);
    return reason === null ? null : { path, reason };
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findUnstorableText(item, `${path}.${index}`);
      if (found) return found;
    }
    return null;
  }
  // Input objects arrive as plain objects; Dates (parsed DateTime scalars) hold no text.
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    for (const [key, item] of Object.entries(value)) {
      const found = findUnstorableText(item, path === '' ? key : `${path}.${key}`);
      if (found) return found;
    }
  }
  return null;
}
