import { Type } from '@sinclair/typebox';
import { roles } from '../../shared/roles.js';
import { Timestamp, Uuid } from '../../shared/schemas.js';

export const Role = Type.Union(roles.map((r) => Type.Literal(r)));
export const Email = Type.String({ minLength: 3, maxLength: 254, format: 'email' });

export const UserView = Type.Object({ id: Uuid, email: Type.String(), role: Role });
export const UserDetail = Type.Object({ id: Uuid, email: Type.String(), role: Role, createdAt: Timestamp });
