/** Entry of the dashboard bundle (src/web/bundle.ts): defines <tickler-dashboard>. */
import './app.js';
