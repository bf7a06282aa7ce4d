import { Type } from '@sinclair/typebox';
import { jobLogKinds } from '@mm/db';
import { Timestamp } from '../../shared/schemas.js';


export const JobLogsQuery = Type.Object(
  {
    offset: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0, description: 'lines to skip (0 = from the first line)' }),
    limit: Type.Integer({ minimum: 1, maximum: 1_000, default: 100 }),
  },
  { additionalProperties: false },
);

export const JobLogLineView = Type.Object({
  seq: Type.Integer({ description: '1, 2, 3… per job, continuing across retries' }),
  at: Timestamp,
  kind: Type.Union(jobLogKinds.map((k) => Type.Literal(k)), { description: 'output (remote command), milestone (progress, attempt start and end) or warning' }),
  line: Type.String({ description: 'secrets already redacted by the worker' }),
});

export const JobLogPage = Type.Object({
  jobId: Type.String(),
  lines: Type.Array(JobLogLineView),
  total: Type.Integer({ description: 'lines the job has in all' }),
  offset: Type.Integer(),
  limit: Type.Integer(),
});
