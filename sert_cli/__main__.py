from sert_cli.cli.launch import main

main()
