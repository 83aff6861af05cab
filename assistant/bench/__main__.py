from assistant.bench.run import main

main()
