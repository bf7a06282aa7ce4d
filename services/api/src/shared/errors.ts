/** The one error catalog: every code the API answers with, its HTTP status and default message. */
export const errorCatalog = {
  VALIDATION_ERROR: { status: 400, message: 'The request is not valid.' },
  UNAUTHORIZED: { status: 401, message: 'Authentication is required.' },
  INVALID_CREDENTIALS: { status: 401, message: 'Email or password is incorrect.' },
  FORBIDDEN: { status: 403, message: 'Your role does not allow this action.' },
  NOT_FOUND: { status: 404, message: 'The resource does not exist.' },
  CONFLICT: { status: 409, message: 'The request conflicts with the current state.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be JSON.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; try again later.' },
  INTERNAL_ERROR: { status: 500, message: 'An unexpected error occurred.' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'A service the API depends on is unavailable; try again shortly.' },
} as const;

export type ErrorCode = keyof typeof errorCatalog;
export const errorCodes = Object.keys(errorCatalog) as ErrorCode[];

export interface ErrorDetail {
  path: string;
  message: string;
}

/** An error meant for the client: its message is safe to show. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: ErrorDetail[],
    /** Response headers that belong to the answer (e.g. Retry-After on a 429). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message ?? errorCatalog[code].message);
    this.statusCode = errorCatalog[code].status;
  }
}

export const notFound = (what: string) => new ApiError('NOT_FOUND', `${what} was not found.`);
export const conflict = (message: string) => new ApiError('CONFLICT', message);
export const unavailable = (message?: string) => new ApiError('SERVICE_UNAVAILABLE', message);
