from costcli.cli import main

main()
