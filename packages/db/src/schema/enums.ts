import { pgEnum } from 'drizzle-orm/pg-core';

export const userRole = pgEnum('user_role', ['admin', 'operator', 'viewer']);
export const authType = pgEnum('auth_type', ['key', 'password']);
/** Records move forward only: pending -> running -> completed | failed | cancelled. */
export const recordStatus = pgEnum('record_status', ['pending', 'running', 'completed', 'failed', 'cancelled']);
export const backupType = pgEnum('backup_type', ['full', 'incremental']);
export const scanType = pgEnum('scan_type', ['full', 'quick']);
