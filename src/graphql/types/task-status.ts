import { builder } from '../builder.js';

export const TaskStatusEnum = builder.enumType('TaskStatus', {
  values: ['ACTIVE', 'COMPLETED', 'CANCELED'] as const,
});
