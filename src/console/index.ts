// The approvers' web console: static pages over the control API (docs/api.md, "Web console").
export { registerConsole } from './routes.js';
