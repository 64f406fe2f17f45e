// The CLI process: run one command and exit with its code (`cli/bin.js` starts this, bundled or not).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
