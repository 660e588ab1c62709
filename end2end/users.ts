/** Accounts the global setup creates with `wukong user create` before the server starts. */
export const USER_PASSWORD = 'end-to-end user passphrase';
export const MFA_USER = 'mfa@e2e.test';
export const DEVICES_USER = 'devices@e2e.test';
/** Signs in once per hostile `next` in redirects.spec.ts. */
export const REDIRECT_USER = 'redirects@e2e.test';
/** Added to a project, promoted and removed in projects.spec.ts. */
export const PROJECT_USER = 'member@e2e.test';
/** An operator of the consoles.spec.ts project, taking a console over from the admin. */
export const CONSOLE_OPERATOR = 'console-operator@e2e.test';
/** A viewer of that project, who is offered no console. */
export const CONSOLE_VIEWER = 'console-viewer@e2e.test';
export const E2E_USERS = [MFA_USER, DEVICES_USER, REDIRECT_USER, PROJECT_USER, CONSOLE_OPERATOR, CONSOLE_VIEWER];
