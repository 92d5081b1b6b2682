// The approvers' web console: static pages over the control API (docs/api.md, "Console").
export { CONSOLE_PATH, registerConsole } from './routes.js';
