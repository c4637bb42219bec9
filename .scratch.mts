import { authenticate } from './src/auth/authenticate.ts';
try { authenticate({ apiKey: { keys: [{ id: 'a', hash: 'abc' }] } } as any); } catch (e) { console.log(e); }
