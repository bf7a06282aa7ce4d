import { expect } from 'vitest';
import type { ApiResponse } from '@mm/testing';

/** The API's error envelope with `status` and `code`. */
export function expectErrorEnvelope(res: ApiResponse, status: number, code: string): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status, body: { success: false, error: { code, message: expect.any(String) } } });
  // Never a stack trace in an answer.
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
}

/** The id a trigger route answered 202 with. */
export function acceptedJobId(res: ApiResponse): string {
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return (res.body as { data: { jobId: string } }).data.jobId;
}
