/**
 * Subscriptions over server-sent events: GraphQL over SSE, "distinct connections mode" (one
 * subscription per HTTP request, `Accept: text/event-stream`; https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md),
 * which Yoga speaks and GraphiQL uses. Yoga writes the events (`event: next` / `event: complete`);
 * this module holds what one stream may cost the server, the same policy as the graphql-ws path
 * (websocket.ts) with the same settings:
 *
 * | What | Answer |
 * | --- | --- |
 * | missing or invalid token | HTTP 401, one error with extensions.code UNAUTHENTICATED, then `complete`, as for any HTTP request |
 * | a subscription over HTTP without `Accept: text/event-stream` | one error, extensions.code STREAM_REQUIRED, and the response ends |
 * | more than `streamsPerUser` open streams of one user on this instance | that request answers one error, extensions.code TOO_MANY_STREAMS |
 * | the token's `exp` passes while the stream is open | one `next` event with the error TOKEN_EXPIRED, then `complete`; resubscribe with a fresh token and `after` |
 * | more than `bufferedBytes` written but unsent (a client that stopped reading) | the connection is dropped at once (it would not read a last event either) |
 * | the server shuts down | one `next` event with the error SHUTTING_DOWN, then `complete` |
 *
 * Why our own writer ({@link EventStreams.send}) and not @whatwg-node/server's: that one waits for
 * 'drain' before reading the next chunk, so a client that stops reading stalls the stream with its
 * events piling up in the event hub's queue and its slot held for ever, unseen. Ours reads every
 * chunk as it comes and measures what the socket has not sent, as graphql-ws's path does with
 * `bufferedAmount`: memory per stream is bounded by `bufferedBytes` plus one event.
 */
import type http from 'node:http';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { log } from '../logger.js';
import type { SocketContext } from './websocket.js';

export interface EventStreamLimits {
  /** Open SSE subscription streams per user on this instance; 0 means unlimited. */
  streamsPerUser: number;
  /** Bytes written to a stream's connection but not yet sent before it is dropped as not reading. */
  bufferedBytes: number;
}

/** Who opened a stream and until when their token is good. */
export interface StreamIdentity {
  userId: string;
  expiresAt: Date;
}

export interface EventStreamOptions {
  limits: EventStreamLimits;
  /** The identity verified for this HTTP request (by the context factory), if it carried a token. */
  identityOf: (request: Request) => StreamIdentity | undefined;
  /** The clock tokens are judged by (Unix ms): the database's (db/clock.ts), as for HTTP requests. */
  now: () => number;
}

/** Largest delay setTimeout accepts (about 24.8 days); a later expiry is re-armed when it passes. */
const MAX_TIMER_MS = 2_147_483_647;

type Result = ExecutionResult<Record<string, unknown>, Record<string, unknown>>;

/** One open stream: ends with one error result, then completes. */
class Stream {
  private endWith: ((error: GraphQLError) => void) | undefined;
  private readonly ended: Promise<GraphQLError>;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly userId: string,
    private readonly onClose: (stream: Stream) => void,
  ) {
    this.ended = new Promise((resolve) => (this.endWith = resolve));
  }

  /** Ends the stream: its next event is `{ errors: [error] }`, then it completes. */
  end(error: GraphQLError): void {
    this.endWith?.(error);
    this.endWith = undefined;
  }

  /** Ends it with TOKEN_EXPIRED once `now()` reaches `expiresAt` (checked again after each timer chunk). */
  armExpiry(expiresAt: Date, now: () => number): void {
    const wait = (): void => {
      const remaining = expiresAt.getTime() - now();
      if (!Number.isFinite(remaining) || remaining <= 0) {
        this.end(new GraphQLError('token expired', { extensions: { code: 'TOKEN_EXPIRED' } }));
        return;
      }
      this.timer = setTimeout(wait, Math.min(remaining, MAX_TIMER_MS));
    };
    wait();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.end(new GraphQLError('stream closed'));
    this.onClose(this);
  }

  /**
   * The subscription's results until it ends by itself or {@link end} is called; `return()` (the
   * client went away) reaches the source at once, so the event hub unsubscribes it.
   */
  wrap(source: AsyncIterable<Result>): AsyncIterableIterator<Result> {
    const iterator = source[Symbol.asyncIterator]();
    const ending = this.ended.then((error) => ({ endedWith: error }));
    let done = false;
    const finish = async (): Promise<IteratorResult<Result>> => {
      if (!done) {
        done = true;
        this.close();
        await iterator.return?.();
      }
      return { value: undefined, done: true };
    };
    return {
      next: async () => {
        if (done) return { value: undefined, done: true };
        const next = await Promise.race([iterator.next().then((source) => ({ source })), ending]);
        if ('endedWith' in next) {
          // The stream was ended: this error is its last event; the next call completes it.
          void finish();
          return { value: { errors: [next.endedWith] }, done: false };
        }
        if (next.source.done) return finish();
        return next.source;
      },
      return: finish,
      throw: async (error?: unknown) => {
        await finish();
        throw error;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

/**
 * The open SSE subscription streams of one server instance and their policy: a Yoga plugin that
 * admits, caps and ends them, and the writer of their responses. Counts are per instance, as for
 * graphql-ws sockets.
 */
export class EventStreams {
  private readonly byUser = new Map<string, Set<Stream>>();
  private readonly open = new Set<Stream>();

  constructor(private readonly options: EventStreamOptions) {}

  /** Open SSE subscription streams on this instance, of one user or of all. */
  count(userId?: string): number {
    return userId === undefined ? this.open.size : (this.byUser.get(userId)?.size ?? 0);
  }

  /** Ends every open stream with SHUTTING_DOWN (graceful shutdown); each then completes. */
  endAll(): void {
    for (const stream of this.open) {
      stream.end(new GraphQLError('server shutting down; resubscribe with `after`', { extensions: { code: 'SHUTTING_DOWN' } }));
    }
  }

  /**
   * Admits subscriptions over HTTP: only as event streams, within the per-user cap; registers
   * each for expiry and shutdown. graphql-ws operations (they carry `socketViewer`) pass through:
   * websocket.ts holds their limits.
   */
  readonly plugin: Plugin<SocketContext> = {
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const context = args.contextValue as SocketContext & { request: Request };
      if (context.socketViewer !== undefined) return;
      const refuse = (message: string, extensions: Record<string, unknown>) =>
        setResultAndStopExecution({ errors: [new GraphQLError(message, { extensions })] });
      if (!(context.request.headers.get('accept') ?? '').includes('text/event-stream')) {
        refuse('subscriptions over HTTP are served as server-sent events (Accept: text/event-stream), or over WebSocket (graphql-ws)', {
          code: 'STREAM_REQUIRED',
        });
        return;
      }
      const identity = this.options.identityOf(context.request);
      // No token (an invalid one never gets here: the context factory answered 401). Pothos's scope
      // check guards `resolve`, not a subscription field's `subscribe`: refuse here, as it would.
      if (identity === undefined) {
        refuse('a valid bearer token is required', { code: 'UNAUTHENTICATED', http: { status: 401 } });
        return;
      }
      const { streamsPerUser } = this.options.limits;
      const userStreams = this.byUser.get(identity.userId) ?? new Set<Stream>();
      if (streamsPerUser > 0 && userStreams.size >= streamsPerUser) {
        log.warn('sse stream refused', { reason: 'too many streams', limit: streamsPerUser });
        refuse(`at most ${streamsPerUser} subscription streams per user may be open at once`, { code: 'TOO_MANY_STREAMS', limit: streamsPerUser });
        return;
      }
      const stream = new Stream(identity.userId, (closed) => {
        this.open.delete(closed);
        const set = this.byUser.get(closed.userId);
        set?.delete(closed);
        if (set?.size === 0) this.byUser.delete(closed.userId);
      });
      userStreams.add(stream);
      this.byUser.set(identity.userId, userStreams);
      this.open.add(stream);
      stream.armExpiry(identity.expiresAt, this.options.now);
      // The connection closing (the client left, or the answer was written) frees the place, even if a
      // later plugin stopped the operation before onSubscribeResult.
      context.request.signal.addEventListener('abort', () => stream.close(), { once: true });
      return {
        onSubscribeResult: ({ result, setResult }) => {
          // An error instead of a stream (validation, REPLAY_WINDOW_EXCEEDED...): nothing stays open.
          if (!isAsyncIterable(result)) {
            stream.close();
            return;
          }
          setResult(stream.wrap(result as AsyncIterable<Result>));
        },
      };
    },
  };

  /**
   * Writes an event-stream response to `response`, reading each chunk as soon as Yoga produces it;
   * drops the connection when more than `bufferedBytes` are waiting to be sent. The client leaving
   * cancels the body, which returns the subscription (and unsubscribes it from the hub).
   */
  async send(body: ReadableStream<Uint8Array>, response: http.ServerResponse): Promise<void> {
    const reader = body.getReader();
    let gone = false;
    response.once('close', () => {
      gone = true;
      reader.cancel().catch(() => undefined);
    });
    response.socket?.setNoDelay(true);
    try {
      while (!gone) {
        const chunk = await reader.read();
        if (chunk.done) {
          response.end();
          return;
        }
        if (gone) return;
        response.write(chunk.value);
        if (response.writableLength > this.options.limits.bufferedBytes) {
          log.warn('sse stream closed', {
            reason: `send buffer over ${this.options.limits.bufferedBytes} bytes: the client is not reading`,
            bufferedBytes: response.writableLength,
          });
          response.destroy();
          return;
        }
      }
    } catch (error) {
      log.warn('sse stream failed', { error });
      response.destroy();
    }
  }
}
