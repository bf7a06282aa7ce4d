import { Type } from '@sinclair/typebox';
import { CommonEnv, parseEnvOrExit } from '@mm/config';

const MigrateEnv = Type.Object({ DATABASE_URL: CommonEnv.DATABASE_URL, NODE_ENV: CommonEnv.NODE_ENV });

export const readMigrateEnv = () => parseEnvOrExit(MigrateEnv, process.env);
