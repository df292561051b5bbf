/**
 * <tickler-dashboard>: sign in with a token (or, in development, mint one), then the user's tasks
 * with their reminders, a 24-hour timeline, the live feed of fired reminders and the delivery outcomes
 * per webhook endpoint. Rendered into the light DOM so /assets/dashboard.css styles it (the CSP allows
 * no inline style).
 */
import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { mintDevelopmentToken, request, TokenRefusedError } from './api.js';
import { ReminderFeed, type FeedStatus, type FiredEvent } from './feed.js';
import {
  DashboardCancelTask,
  DashboardCompleteTask,
  DashboardCreateTask,
  DashboardDeleteTask,
  DashboardDeliveries,
  DashboardTasks,
  DashboardViewer,
} from './operations.js';
import { timeline } from './timeline.js';
import type { DashboardDeliveriesQuery, DashboardTaskFieldsFragment, DashboardViewerQuery } from '../gql/graphql.js';

type Task = DashboardTaskFieldsFragment;
type Delivery = DashboardDeliveriesQuery['deliveries']['edges'][number]['node'];
type Endpoint = DashboardDeliveriesQuery['webhookEndpoints'][number];

type FeedEntry =
  | { kind: 'event'; event: FiredEvent; replayed: boolean; receivedAt: number }
  | { kind: 'notice'; text: string; at: number };

/** The token lives in this tab only, and only as long as the tab. */
const TOKEN_KEY = 'tickler.token';
/** The feed keeps the most recent entries; older ones drop off the bottom. */
const FEED_LENGTH = 100;
/** How often the timeline's "now" moves on. */
const CLOCK_TICK_MS = 30_000;
/** While a delivery is still pending, its outcome is asked for this often. */
const DELIVERY_POLL_MS = 2_000;

function time(at: string | number): string {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function dateTime(at: string): string {
  return new Date(at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** `<input type="datetime-local">` wants local wall-clock time without a zone. */
function localInputValue(at: number): string {
  const date = new Date(at);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

const UNIT_SECONDS = { seconds: 1, minutes: 60, hours: 3600 } as const;
type Unit = keyof typeof UNIT_SECONDS;

@customElement('tickler-dashboard')
export class TicklerDashboard extends LitElement {
  @state() accessor token: string | null = sessionStorage.getItem(TOKEN_KEY);
  @state() accessor viewer: DashboardViewerQuery['viewer'] | null = null;
  @state() accessor tasks: Task[] = [];
  @state() accessor endpoints: Endpoint[] = [];
  @state() accessor deliveries: Delivery[] = [];
  @state() accessor feed: FeedEntry[] = [];
  @state() accessor feedStatus: FeedStatus = 'connecting';
  @state() accessor error = '';
  @state() accessor busy = false;
  @state() accessor now = Date.now();

  private readonly devTokens = document.querySelector('meta[name="tickler-dev-tokens"]')?.getAttribute('content') === 'on';
  private liveFeed: ReminderFeed | undefined;
  private clock: ReturnType<typeof setInterval> | undefined;
  private deliveryPoll: ReturnType<typeof setTimeout> | undefined;
  /** Numbers of the latest tasks and deliveries requests: only their answers are applied. */
  private tasksRequest = 0;
  private deliveriesRequest = 0;

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.clock = setInterval(() => (this.now = Date.now()), CLOCK_TICK_MS);
    if (this.token) void this.signIn(this.token);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.clock);
    clearTimeout(this.deliveryPoll);
    this.liveFeed?.stop();
  }

  // --- signing in and out ---------------------------------------------------------------------

  private async signIn(token: string): Promise<void> {
    this.error = '';
    try {
      const { viewer } = await request(token, DashboardViewer, {});
      sessionStorage.setItem(TOKEN_KEY, token);
      this.token = token;
      this.viewer = viewer;
      this.feed = [];
      this.liveFeed?.stop();
      this.liveFeed = new ReminderFeed(token, {
        event: (event, replayed) => this.onFired(event, replayed),
        status: (status) => (this.feedStatus = status),
        dropped: (code) => this.notice(`Connection lost${code === undefined ? '' : ` (close code ${code})`}; reconnecting…`),
        resumed: (after) => this.notice(after === null ? 'Reconnected (no event received before).' : `Reconnected; resumed after event #${after}.`),
      });
      this.liveFeed.start();
      await this.refresh();
    } catch (error) {
      this.signOut();
      this.error = error instanceof TokenRefusedError ? `Token refused: ${error.message}` : String(error instanceof Error ? error.message : error);
    }
  }

  private signOut(): void {
    clearTimeout(this.deliveryPoll);
    this.liveFeed?.stop();
    this.liveFeed = undefined;
    sessionStorage.removeItem(TOKEN_KEY);
    this.token = null;
    this.viewer = null;
    this.tasks = [];
    this.endpoints = [];
    this.deliveries = [];
    this.feed = [];
  }

  private onPasteSubmit(event: SubmitEvent): void {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const token = new FormData(form).get('token');
    if (typeof token === 'string' && token.trim() !== '') void this.signIn(token.trim().replace(/^Bearer\s+/i, ''));
  }

  private async onMint(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const subject = new FormData(event.currentTarget as HTMLFormElement).get('subject');
    if (typeof subject !== 'string' || subject.trim() === '') return;
    try {
      await this.signIn(await mintDevelopmentToken(subject.trim()));
    } catch (error) {
      this.error = error instanceof Error ? error.message : String(error);
    }
  }

  // --- data -----------------------------------------------------------------------------------

  /** Runs one request with the page's token; a refused token signs the page out. */
  private async call<T>(work: (token: string) => Promise<T>): Promise<T | undefined> {
    const token = this.token;
    if (!token) return undefined;
    try {
      return await work(token);
    } catch (error) {
      if (error instanceof TokenRefusedError) {
        this.signOut();
        this.error = `Signed out: ${error.message}`;
      } else {
        this.error = error instanceof Error ? error.message : String(error);
      }
      return undefined;
    }
  }

  // Refreshes overlap (each fired event starts one, and the delivery poll runs beside them) and their
  // answers can arrive out of order: an older answer applied last would show stale statuses and, with
  // nothing pending in it, end the delivery poll for good. Only the answer to the latest request of
  // each kind is applied.
  private async refresh(): Promise<void> {
    await Promise.all([this.loadTasks(), this.loadDeliveries()]);
    this.now = Date.now();
  }

  private async loadTasks(): Promise<void> {
    const requestNumber = ++this.tasksRequest;
    const result = await this.call((token) => request(token, DashboardTasks, {}));
    if (result && requestNumber === this.tasksRequest) this.tasks = result.tasks.edges.map((edge) => edge.node);
  }

  private async loadDeliveries(): Promise<void> {
    const requestNumber = ++this.deliveriesRequest;
    const result = await this.call((token) => request(token, DashboardDeliveries, {}));
    if (!result || requestNumber !== this.deliveriesRequest) return;
    this.endpoints = result.webhookEndpoints;
    this.deliveries = result.deliveries.edges.map((edge) => edge.node);
    this.pollPendingDeliveries();
  }

  /** Deliveries finish after the event that started them: ask again until none is pending. */
  private pollPendingDeliveries(): void {
    clearTimeout(this.deliveryPoll);
    const pending = this.deliveries.some((delivery) => delivery.status === 'PENDING' || delivery.status === 'PROCESSING');
    if (!pending || !this.token) return;
    this.deliveryPoll = setTimeout(() => void this.loadDeliveries(), DELIVERY_POLL_MS);
  }

  private onFired(event: FiredEvent, replayed: boolean): void {
    this.push({ kind: 'event', event, replayed, receivedAt: Date.now() });
    // The reminder's status and the deliveries it started have changed.
    void this.refresh();
  }

  private notice(text: string): void {
    this.push({ kind: 'notice', text, at: Date.now() });
  }

  private push(entry: FeedEntry): void {
    this.feed = [entry, ...this.feed].slice(0, FEED_LENGTH);
  }

  private async onCreate(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const title = String(data.get('title') ?? '');
    const deadline = new Date(String(data.get('deadline') ?? ''));
    if (Number.isNaN(deadline.getTime())) {
      this.error = 'Choose a deadline.';
      return;
    }
    const reminders: Array<{ at?: string; secondsBeforeDeadline?: number }> = [];
    const remindIn = String(data.get('remindIn') ?? '').trim();
    if (remindIn !== '') {
      const unit = String(data.get('remindInUnit')) as Unit;
      reminders.push({ at: new Date(Date.now() + Number(remindIn) * UNIT_SECONDS[unit] * 1000).toISOString() });
    }
    const before = String(data.get('minutesBefore') ?? '').trim();
    if (before !== '') reminders.push({ secondsBeforeDeadline: Math.round(Number(before) * 60) });
    this.busy = true;
    const result = await this.call((token) =>
      request(token, DashboardCreateTask, { input: { title, deadline: deadline.toISOString(), reminders } }),
    );
    this.busy = false;
    if (!result) return;
    if (result.createTask.__typename === 'CreateTaskSuccess') {
      this.error = '';
      form.reset();
      // reset() empties the deadline; offer "in an hour" again.
      const deadlineInput = form.elements.namedItem('deadline');
      if (deadlineInput instanceof HTMLInputElement) deadlineInput.value = localInputValue(Date.now() + 3_600_000);
      await this.refresh();
    } else {
      this.error = 'message' in result.createTask ? result.createTask.message : 'The task was refused.';
    }
  }

  private async act(kind: 'complete' | 'cancel' | 'delete', task: Task): Promise<void> {
    if (kind === 'delete' && !window.confirm(`Delete "${task.title}" and its reminders?`)) return;
    const result = await this.call(async (token) => {
      if (kind === 'complete') return (await request(token, DashboardCompleteTask, { id: task.id })).completeTask;
      if (kind === 'cancel') return (await request(token, DashboardCancelTask, { id: task.id })).cancelTask;
      return (await request(token, DashboardDeleteTask, { id: task.id })).deleteTask;
    });
    if (result && 'message' in result) this.error = result.message;
    await this.refresh();
  }

  // --- rendering ------------------------------------------------------------------------------

  protected override render(): TemplateResult {
    return html`
      <header>
        <h1>Tickler</h1>
        ${this.viewer
          ? html`<span class="who">Signed in as <strong class="subject">${this.viewer.subject}</strong></span>
              <button class="sign-out" @click=${() => this.signOut()}>Sign out</button>`
          : nothing}
      </header>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.viewer ? this.renderDashboard() : this.renderSignIn()}
    `;
  }

  private renderSignIn(): TemplateResult {
    return html`
      <section class="sign-in">
        <h2>Sign in</h2>
        <form class="paste-token" @submit=${(event: SubmitEvent) => this.onPasteSubmit(event)}>
          <label for="token">Paste your bearer token (a JWT)</label>
          <textarea id="token" name="token" rows="3" autocomplete="off" spellcheck="false"></textarea>
          <button type="submit">Sign in</button>
        </form>
        ${this.devTokens
          ? html`<form class="dev-token" @submit=${(event: SubmitEvent) => this.onMint(event)}>
              <label for="subject">Development only: sign in as</label>
              <input id="subject" name="subject" value="alice" autocomplete="off" />
              <button type="submit">Mint a development token</button>
            </form>`
          : nothing}
      </section>
    `;
  }

  private renderDashboard(): TemplateResult {
    const titles = new Map(this.tasks.map((task) => [task.id, task.title]));
    const pending = this.tasks.flatMap((task) =>
      task.reminders.filter((reminder) => reminder.status === 'PENDING').map((reminder) => ({ id: reminder.id, triggerAt: reminder.triggerAt, taskTitle: titles.get(task.id) ?? '' })),
    );
    return html`
      <section class="timeline-panel">
        <h2>Next 24 hours</h2>
        ${timeline(pending, this.now)}
      </section>
      <div class="columns">
        <section class="tasks">
          <h2>Tasks</h2>
          ${this.renderCreateForm()}
          <ul class="task-list">
            ${this.tasks.map((task) => this.renderTask(task))}
          </ul>
          ${this.tasks.length === 0 ? html`<p class="muted">No tasks yet.</p>` : nothing}
        </section>
        <aside>
          <section class="feed">
            <h2>Fired reminders <span class="feed-status status-${this.feedStatus}">${this.feedStatus}</span></h2>
            <ol class="feed-list">
              ${this.feed.map((entry) =>
                entry.kind === 'event'
                  ? html`<li class="feed-event" data-event-id=${entry.event.id}>
                      <span class="event-id">#${entry.event.id}</span>
                      <span class="event-title">${entry.event.taskTitle}</span>
                      <span class="event-time">due ${time(entry.event.triggerAt)}, fired ${time(entry.event.occurredAt)}</span>
                      ${entry.replayed ? html`<span class="tag replayed">replayed</span>` : nothing}
                    </li>`
                  : html`<li class="feed-notice">${time(entry.at)} ${entry.text}</li>`,
              )}
            </ol>
            ${this.feed.length === 0 ? html`<p class="muted">Waiting for reminders to fire…</p>` : nothing}
          </section>
          ${this.renderDeliveries()}
        </aside>
      </div>
    `;
  }

  private renderCreateForm(): TemplateResult {
    return html`
      <form class="create-task" @submit=${(event: SubmitEvent) => this.onCreate(event)}>
        <label>Title <input name="title" required maxlength="200" /></label>
        <label>Deadline <input name="deadline" type="datetime-local" required .value=${localInputValue(Date.now() + 3_600_000)} /></label>
        <fieldset>
          <legend>Reminders</legend>
          <label>Remind in <input name="remindIn" type="number" min="1" step="1" class="short" />
            <select name="remindInUnit">
              <option value="seconds">seconds</option>
              <option value="minutes" selected>minutes</option>
              <option value="hours">hours</option>
            </select>
          </label>
          <label>and/or <input name="minutesBefore" type="number" min="0" step="1" class="short" /> minutes before the deadline</label>
        </fieldset>
        <button type="submit" ?disabled=${this.busy}>Create task</button>
      </form>
    `;
  }

  private renderTask(task: Task): TemplateResult {
    const active = task.status === 'ACTIVE';
    return html`
      <li class="task status-${task.status.toLowerCase()}" data-task-id=${task.id}>
        <div class="task-head">
          <span class="task-title">${task.title}</span>
          <span class="badge task-status">${task.status}</span>
        </div>
        <div class="task-deadline">Deadline ${dateTime(task.deadline)}</div>
        <ul class="reminders">
          ${task.reminders.map(
            (reminder) => html`<li class="reminder reminder-${reminder.status.toLowerCase()}">
              <span class="badge">${reminder.status}</span> ${dateTime(reminder.triggerAt)}
              ${reminder.kind === 'RELATIVE' && reminder.secondsBeforeDeadline != null
                ? html`<span class="muted">(${Math.round(reminder.secondsBeforeDeadline / 60)} min before)</span>`
                : nothing}
            </li>`,
          )}
        </ul>
        <div class="actions">
          ${active
            ? html`<button class="complete" @click=${() => this.act('complete', task)}>Complete</button>
                <button class="cancel" @click=${() => this.act('cancel', task)}>Cancel</button>`
            : nothing}
          <button class="delete danger" @click=${() => this.act('delete', task)}>Delete</button>
        </div>
      </li>
    `;
  }

  private renderDeliveries(): TemplateResult {
    return html`
      <section class="deliveries">
        <h2>Webhook deliveries</h2>
        ${this.endpoints.length === 0 ? html`<p class="muted">No webhook endpoints (create one through the API).</p>` : nothing}
        ${this.endpoints.map((endpoint) => {
          const mine = this.deliveries.filter((delivery) => delivery.endpoint?.id === endpoint.id);
          const count = (status: Delivery['status']) => mine.filter((delivery) => delivery.status === status).length;
          const last = mine[0];
          const lastAttempt = last?.attempts[last.attempts.length - 1];
          return html`<div class="endpoint" data-endpoint-id=${endpoint.id}>
            <div class="endpoint-url">${endpoint.url}</div>
            <div class="counts">
              <span class="badge sent">${count('SENT')} sent</span>
              <span class="badge pending">${count('PENDING') + count('PROCESSING')} pending</span>
              <span class="badge failed">${count('FAILED')} failed</span>
            </div>
            ${last
              ? html`<div class="last-delivery">Last: event #${last.eventId}, ${last.status}${lastAttempt
                  ? html`, attempt ${lastAttempt.attempt} → ${lastAttempt.statusCode ?? lastAttempt.error ?? 'no answer'}`
                  : nothing}</div>`
              : nothing}
          </div>`;
        })}
      </section>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'tickler-dashboard': TicklerDashboard;
  }
}
