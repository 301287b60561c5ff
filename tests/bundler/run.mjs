// Loads a built bundle (argv[2]) and prints start()'s summary as one JSON line.
const bundle = await import(process.argv[2]);
console.log(JSON.stringify({ exports: Object.keys(bundle).sort(), start: bundle.start(process.argv[3]) }));
process.exit(0); // the SDK keeps timers; nothing is waited for
