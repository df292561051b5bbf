/**
 * The next 24 hours of pending reminders as one SVG strip: an hour axis from now, a mark per reminder
 * (its task's title on hover and beside the mark), so a person sees at a glance what fires when.
 */
import { html, svg, type TemplateResult } from 'lit';

export interface TimelineReminder {
  id: string;
  taskTitle: string;
  triggerAt: string;
}

const HOUR_MS = 3_600_000;
const SPAN_MS = 24 * HOUR_MS;
const WIDTH = 960;
const HEIGHT = 150;
const LEFT = 24;
const RIGHT = 24;
const AXIS_Y = 110;
/** Labels take one of this many rows above the axis, so neighbours do not overwrite each other. */
const LABEL_ROWS = 4;

function x(at: number, now: number): number {
  return LEFT + ((at - now) / SPAN_MS) * (WIDTH - LEFT - RIGHT);
}

function clock(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function shorten(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

export function timeline(reminders: readonly TimelineReminder[], now: number): TemplateResult {
  const upcoming = reminders
    .map((reminder) => ({ ...reminder, at: Date.parse(reminder.triggerAt) }))
    .filter((reminder) => reminder.at >= now && reminder.at <= now + SPAN_MS)
    .sort((a, b) => a.at - b.at);
  const firstHour = Math.ceil(now / HOUR_MS) * HOUR_MS;
  const hours = Array.from({ length: 24 }, (_, index) => firstHour + index * HOUR_MS).filter((at) => at <= now + SPAN_MS);
  return html`
    <svg class="timeline" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="Reminders in the next 24 hours: ${upcoming.length}">
      <line class="axis" x1=${LEFT} y1=${AXIS_Y} x2=${WIDTH - RIGHT} y2=${AXIS_Y}></line>
      ${hours.map(
        (at, index) => svg`
          <line class="hour" x1=${x(at, now)} y1=${AXIS_Y - 4} x2=${x(at, now)} y2=${AXIS_Y + 4}></line>
          ${index % 3 === 0 ? svg`<text class="hour-label" x=${x(at, now)} y=${AXIS_Y + 22}>${clock(at)}</text>` : ''}`,
      )}
      <line class="now" x1=${LEFT} y1=${12} x2=${LEFT} y2=${AXIS_Y + 6}></line>
      <text class="now-label" x=${LEFT} y=${10}>now</text>
      ${upcoming.map((reminder, index) => {
        const row = index % LABEL_ROWS;
        const labelY = 24 + row * 20;
        const markX = x(reminder.at, now);
        return svg`
          <g class="timeline-mark" data-reminder-id=${reminder.id}>
            <title>${reminder.taskTitle} at ${new Date(reminder.at).toLocaleString()}</title>
            <line class="stem" x1=${markX} y1=${labelY + 4} x2=${markX} y2=${AXIS_Y}></line>
            <circle cx=${markX} cy=${AXIS_Y} r="6"></circle>
            <text class="mark-label" x=${markX + 6} y=${labelY}>${shorten(reminder.taskTitle, 24)} · ${clock(reminder.at)}</text>
          </g>`;
      })}
      ${upcoming.length === 0 ? svg`<text class="empty" x=${WIDTH / 2} y=${AXIS_Y - 40}>No reminders in the next 24 hours</text>` : ''}
    </svg>`;
}
